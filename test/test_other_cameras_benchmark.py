"""benchmarks/other_cameras.py: the default model's depth on wider cameras, with intrinsics."""

from pathlib import Path
import runpy

ROOT = Path(__file__).resolve().parents[1]


def test_intrinsics_bring_a_wider_cameras_depth_near_metres_and_leave_the_training_cameras(
        capsys):
    main = runpy.run_path(str(ROOT / 'benchmarks' / 'other_cameras.py'))['main']
    assert main(['--backend', 'onnxruntime', '--frames', '2']) == 0
    rows = [line.strip('| ').split(' | ') for line in capsys.readouterr().out.splitlines()
            if line.startswith('| ') and 'degrees' in line or line.startswith('| training')]
    table = {(camera, lighting, given): [float(value) for value in values]
             for camera, lighting, given, *values in rows}
    assert len(table) == 12
    for (camera, lighting, given), (scaled, metric, ratio) in table.items():
        none = table[camera, lighting, 'none']
        assert scaled == none[0]  # the depth's shape is the network's either way
        if camera.startswith('training'):
            assert (metric, ratio) == (none[1], none[2])
        elif given == 'given':  # about twice as near as the network reads a 16:9 or 4:3 image
            assert none[2] < 0.8 and ratio > none[2] and metric < none[1] / 2
