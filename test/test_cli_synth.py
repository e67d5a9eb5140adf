"""``defeat-ros synth`` end to end: paired day and night drives as KITTI folders and bags."""

from defeat_ros.apps.cli import main
from rosbags.rosbag2 import Reader


def test_synth_writes_paired_kitti_folders_and_bags(tmp_path, capsys):
    out = tmp_path / 'synth'
    code = main(['synth', '--out', str(out), '--frames', '3', '--width', '96', '--height', '64',
                 '--paired', '--image-transport', 'both', '--storage', 'sqlite3'])
    assert code == 0
    for condition in ('day', 'night'):
        drive = out / condition / 'kitti' / '2011_09_26' / '2011_09_26_drive_0001_sync'
        assert len(list((drive / 'image_02' / 'data').glob('*.png'))) == 3
        assert len(list((drive / 'proj_depth' / 'groundtruth' / 'image_02').glob('*.png'))) == 3
        with Reader(out / condition / 'bag') as reader:
            counts = {c.topic: c.msgcount for c in reader.connections}
        assert counts['/camera/image_raw'] == 3 and counts['/camera/image_raw/compressed'] == 3
        assert counts['/camera/camera_info'] == 3 and counts['/ground_truth/odometry'] == 3
    printed = capsys.readouterr().out
    assert 'frames/s' in printed and 'night' in printed


def test_synth_refuses_to_overwrite_and_rejects_unknown_formats(tmp_path, capsys):
    args = ['synth', '--out', str(tmp_path), '--frames', '2', '--width', '32', '--height', '32']
    assert main(args + ['--format', 'bag']) == 0
    assert main(args + ['--format', 'bag']) == 2
    assert 'exists' in capsys.readouterr().err
    assert main(args + ['--format', 'png']) == 2
    assert 'unknown formats' in capsys.readouterr().err
    assert main(args + ['--intrinsics', '0.5,0.5']) == 2
    assert 'fx,fy,cx,cy' in capsys.readouterr().err


def test_synth_intrinsics_reach_the_camera_info(tmp_path):
    out = tmp_path / 'synth'
    assert main(['synth', '--out', str(out), '--frames', '2', '--width', '64', '--height', '32',
                 '--format', 'kitti', '--intrinsics', '0.5,1.0,0.5,0.5']) == 0
    calib = (out / 'day' / 'kitti' / '2011_09_26' / 'calib_cam_to_cam.txt').read_text()
    p_rect = next(line for line in calib.splitlines() if line.startswith('P_rect_02:'))
    values = [float(v) for v in p_rect.split(':')[1].split()]
    assert values[0] == 32.0 and values[5] == 32.0  # fx = 0.5 * 64, fy = 1.0 * 32
