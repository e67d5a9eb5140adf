"""training/evaluate.py end to end on a tiny untrained model: synthetic and real layouts."""

import importlib.util
import json
from pathlib import Path

import cv2
from defeat_ros.apps.synth import run_synth
from defeat_ros.data.street_world import WorldConfig
from defeat_ros.evaluation.report import BAR_HEIGHT, GAP, TEXT_COLOUR, TITLE_HEIGHT
import pytest
from test_evaluation_velodyne import shared_frames, write_raw_calibration

SCRIPT = Path(__file__).resolve().parents[1] / 'training' / 'evaluate.py'


def load_script():
    """Import training/evaluate.py (a script, not a package module)."""
    spec = importlib.util.spec_from_file_location('evaluate_script', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_help_and_argument_errors(capsys):
    script = load_script()
    with pytest.raises(SystemExit) as stop:
        script.main(['--help'])
    assert stop.value.code == 0 and '--kitti' in capsys.readouterr().out
    assert script.main(['model', '--out', 'x', '--kitti', 'root']) == 2  # --split missing
    assert '--split go together' in capsys.readouterr().err


def test_synthetic_day_and_night(tiny_model, tmp_path, capsys):
    out = tmp_path / 'eval'
    assert load_script().main([str(tiny_model), '--out', str(out), '--frames', '6',
                               '--max-anchors', '300', '--figure-frames', '2']) == 0
    printed = capsys.readouterr().out
    assert '### Depth' in printed and '| night |' in printed
    assert '### Published: RobotCar night' in printed and 'context only' in printed
    results = json.loads((out / 'results.json').read_text())
    assert set(results['conditions']) == {'day', 'night'}
    for condition in ('day', 'night'):
        result = results['conditions'][condition]
        depth = result['depth']
        assert depth['images'] == 6 and 0.0 < depth['abs_rel'] < 10.0
        assert 0.0 <= depth['a1'] <= depth['a2'] <= depth['a3'] <= 1.0
        assert depth['ratio_std'] >= 0.0
        pose = result['pose']
        assert pose['snippet']['snippets'] == 2 and pose['snippet']['ate_mean'] >= 0.0
        assert pose['trajectory']['frames'] == 6 and pose['trajectory']['ate_rmse'] >= 0.0
        features = result['features']
        assert 0.0 <= features['global_auc'] <= 1.0 and 0.0 <= features['local_auc'] <= 1.0
        assert features['anchors'] == 5 * 300
    assert results['protocol']['crop'] is True
    assert (out / 'results.md').read_text().count('| day |') == 3
    assert results['protocol']['figure_frames'] == 2
    for name in ('depth_day', 'depth_night', 'trajectory'):
        image = cv2.imread(str(out / f'{name}.png'))
        assert image is not None and image.any(), name
    # Two frames side by side, each a titled column of input, truth, prediction and error at
    # 4 x the network's 96 x 64, each above its colour bar strip.
    sheet = cv2.imread(str(out / 'depth_day.png'))
    tile = 4 * 64 + BAR_HEIGHT
    assert sheet.shape == (TITLE_HEIGHT + 4 * tile, 2 * 4 * 96 + GAP, 3)
    for k in range(2):
        title = sheet[:TITLE_HEIGHT, k * (4 * 96 + GAP):(k + 1) * 4 * 96]
        assert (title == TEXT_COLOUR[0]).any(), k
    # Trajectories: as predicted and aligned, side by side under their titles.
    assert cv2.imread(str(out / 'trajectory.png')).shape == (TITLE_HEIGHT + 560, 2 * 560 + GAP, 3)
    pose = results['conditions']['day']['pose']['trajectory']
    assert pose['scale'] > 0


def test_kitti_raw_with_velodyne_ground_truth(tiny_model, tmp_path):
    frames = shared_frames()
    root = tmp_path / 'kitti'
    date = write_raw_calibration(root / '2011_09_26', frames / 'calib' / '000000.txt')
    drive = date / '2011_09_26_drive_0001_sync'
    for folder, source, name in (('image_02/data', 'image_2/000000.png', '0000000005.png'),
                                 ('velodyne_points/data', 'velodyne/000000.bin',
                                  '0000000005.bin')):
        (drive / folder).mkdir(parents=True)
        (drive / folder / name).symlink_to(frames / source)
    split = tmp_path / 'test_files.txt'
    split.write_text('2011_09_26/2011_09_26_drive_0001_sync 5 l\n')
    out = tmp_path / 'eval'
    assert load_script().main([str(tiny_model), '--out', str(out), '--kitti', str(root),
                               '--split', str(split)]) == 0
    results = json.loads((out / 'results.json').read_text())
    depth = results['conditions']['kitti']['depth']
    assert depth['images'] == 1 and 0.0 < depth['abs_rel'] < 10.0
    assert 'pose' not in results['conditions']['kitti']
    figure = cv2.imread(str(out / 'depth_kitti.png'))
    assert figure.shape == (TITLE_HEIGHT + 4 * (370 + BAR_HEIGHT), 1224, 3)


def test_every_real_dataset_layout_in_one_report(tiny_model, tmp_path, capsys):
    """KITTI raw (depth, features), KITTI odometry and RobotCar, written by synth, in one run."""
    world = WorldConfig(width=96, height=64, frames=6, seed=7, moving_cars=0)
    run_synth(tmp_path / 'synth', world, formats=('kitti', 'kitti_odometry', 'robotcar'),
              log=lambda _: None)
    day = tmp_path / 'synth' / 'day'
    split = tmp_path / 'split.txt'
    split.write_text(''.join(f'2011_09_26/2011_09_26_drive_0001_sync {frame} l\n'
                             for frame in (1, 3)))
    out = tmp_path / 'eval'
    robotcar = day / 'robotcar'
    images = next(robotcar.glob('*/stereo/centre'))
    assert load_script().main([
        str(tiny_model), '--out', str(out), '--kitti', str(day / 'kitti'), '--split',
        str(split), '--kitti-odometry', str(day / 'kitti_odometry'), '--sequences', '09',
        '--robotcar-day', str(images), '--robotcar-models', str(robotcar / 'models'),
        '--robotcar-frames', '3', '--max-anchors', '200']) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / 'results.json').read_text())
    assert list(results['conditions']) == ['kitti', 'odometry 09', 'robotcar day']
    kitti = results['conditions']['kitti']
    assert kitti['depth']['images'] == 2 and kitti['features']['anchors'] > 0
    assert 0.0 <= kitti['features']['local_auc'] <= 1.0
    assert results['conditions']['odometry 09']['pose']['snippet']['snippets'] == 2
    assert results['conditions']['robotcar day']['depth']['images'] == 3
    for heading in ('KITTI Eigen test split', 'KITTI feature matching',
                    'KITTI odometry sequence 09', 'RobotCar day'):
        assert f'### Published: {heading}' in printed
    assert 'context only' not in printed  # real layouts: the published numbers compare
    assert {path.name for path in out.glob('*.png')} == {
        'depth_kitti.png', 'trajectory_09.png', 'depth_robotcar_day.png'}
