"""benchmarks/pose_refinement.py: the default model's odometry with and without alignment."""

from pathlib import Path
import runpy

ROOT = Path(__file__).resolve().parents[1]


def test_rows_for_both_refinements_with_plausible_values(capsys):
    main = runpy.run_path(str(ROOT / 'benchmarks' / 'pose_refinement.py'))['main']
    assert main(['--backend', 'onnxruntime', '--resolutions', '320x96', '--frames', '6']) == 0
    printed = capsys.readouterr().out
    rows = [line.strip('| ').split(' | ') for line in printed.splitlines()
            if line.startswith('| 320x96')]
    expected = [('day', 'none'), ('day', 'direct'), ('night', 'none'), ('night', 'direct')]
    assert [(row[1], row[2]) for row in rows] == expected
    for _, _, refinement, metric, ratio, shape, milliseconds, time_ratio in rows:
        assert 0 <= float(shape) <= float(metric) + 0.01 < 5
        assert 0.5 < float(ratio) < 2 and float(milliseconds) > 0
        assert (float(time_ratio) == 1.0) == (refinement == 'none')
