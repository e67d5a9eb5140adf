"""benchmarks/pose_refinement.py: the default model's odometry: PoseNet, aligned, its scales."""

from pathlib import Path
import runpy

ROOT = Path(__file__).resolve().parents[1]


def test_rows_for_every_odometry_with_plausible_values(capsys):
    main = runpy.run_path(str(ROOT / 'benchmarks' / 'pose_refinement.py'))['main']
    assert main(['--backend', 'onnxruntime', '--resolutions', '320x96', '--frames', '6',
                 '--seeds', '1000,1001']) == 0
    printed = capsys.readouterr().out
    rows = [line.strip('| ').split(' | ') for line in printed.splitlines()
            if line.startswith('| 320x96')]
    expected = [(lighting, street, refinement) for lighting in ('day', 'night')
                for street in ('1000', '1001', 'mean')
                for refinement in ('none', 'direct', 'direct, camera height', 'direct, speed')]
    assert [tuple(row[1:4]) for row in rows] == expected
    for lighting in ('day', 'night'):  # the mean row is the mean of the streets' rows
        metric = {row[2]: float(row[4]) for row in rows
                  if row[1] == lighting and row[3] == 'direct'}
        assert abs(metric['mean'] - (metric['1000'] + metric['1001']) / 2) <= 0.011
    for _, _, _, refinement, metric, ratio, shape, milliseconds, time_ratio in rows:
        assert 0 <= float(shape) <= float(metric) + 0.01 < 5
        assert 0.5 < float(ratio) < 2 and float(milliseconds) > 0
        assert (float(time_ratio) == 1.0) == (refinement == 'none')
        if refinement == 'direct, speed':  # the wheel's length: 1 % long, 0.03 m/s noise
            assert abs(float(ratio) - 1.01) < 0.01
