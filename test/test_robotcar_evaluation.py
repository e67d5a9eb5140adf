"""RobotCar runs written from synthetic drives, LiDAR ground truth and depth evaluation."""

from defeat_ros.data.robotcar import RobotCarDataset
from defeat_ros.data.robotcar_vo import read_vo_positions
from defeat_ros.data.robotcar_writer import (G_CAMERA_IMAGE, so3_to_euler, write_robotcar_run,
                                             xyzrpy)
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.evaluation import robotcar as robotcar_evaluation
from defeat_ros.evaluation.depth import DepthEvaluation, METRICS
from defeat_ros.evaluation.protocol import EvaluationConfig
from defeat_ros.evaluation.robotcar import evaluate_robotcar, frame_indices
from defeat_ros.evaluation.robotcar_lidar import (interpolate_poses, LidarConfig,
                                                  LidarGroundTruth, nearest_depth, se3)
from defeat_ros.nets import ModelConfig
import numpy as np
import pytest
import torch
from untrained import untrained_model

HEIGHT, WIDTH, FRAMES = 64, 160, 6
SDK_G = '\n'.join(' '.join(f'{v:.6f}' for v in row) for row in G_CAMERA_IMAGE)


@pytest.fixture(scope='module')
def drive():
    """Render a small static drive: no moving cars, so accumulated scans stay exact."""
    return render_sequence(WorldConfig(width=WIDTH, height=HEIGHT, frames=FRAMES,
                                       moving_cars=0))


@pytest.fixture(scope='module')
def run(drive, tmp_path_factory):
    """Write the drive as a RobotCar run."""
    return write_robotcar_run(drive, tmp_path_factory.mktemp('robotcar'))


def lidar(run, **config):
    """Return the LiDAR ground truth of the written run's frames."""
    return LidarGroundTruth(run.folder, run.models_dir, run.extrinsics_dir, (HEIGHT, WIDTH),
                            LidarConfig(**config))


def test_euler_round_trip():
    values = np.array([0.3, -0.2, 1.1])
    assert np.allclose(so3_to_euler(se3([0, 0, 0, *values])[:3, :3]), values)
    transform = se3([1.0, -2.0, 0.5, 0.1, 0.2, -2.5])
    assert np.allclose(se3(xyzrpy(transform)), transform)


def test_writer_round_trips_through_the_loader(drive, run):
    dataset = RobotCarDataset({'folders': [str(run.folder)], 'models_dir': str(run.models_dir)})
    (source,) = dataset.sources
    assert source.count == FRAMES and list(source.times) == list(run.times)
    assert torch.allclose(source.k_norm, drive.k_norm, atol=1e-6)
    assert source.speed_source == 'RobotCar INS'
    speed = float(torch.linalg.norm(drive.poses[1, :3, 3] - drive.poses[0, :3, 3])) * 10.0
    assert abs(source.speeds[0] - speed) < 0.3
    image = source.image(2).astype(np.float64) / 255.0  # demosaiced Bayer, identity table
    truth = drive.images[2].permute(1, 2, 0).numpy()
    assert image.shape == (HEIGHT, WIDTH, 3) and np.abs(image - truth).mean() < 0.05
    times, positions = read_vo_positions(run.run / 'vo' / 'vo.csv')
    travel = np.linalg.norm(positions[-1] - positions[0])
    truth = float(torch.linalg.norm(drive.poses[-1, :3, 3] - drive.poses[0, :3, 3]))
    assert list(times) == list(run.times) and abs(travel - truth) < 1e-4
    with pytest.raises(FileExistsError, match='exists already'):
        write_robotcar_run(drive, run.run.parent)


def write_tiny_run(root, scans, extrinsics='1 0 0.5 0 0 1.5707963267948966'):
    """Write a run by hand: 40 x 30 camera, lms_front, vo.csv moving 2 m per 0.1 s."""
    (root / 'models').mkdir(parents=True)
    (root / 'models' / 'stereo_narrow_left.txt').write_text(f'100 100 20 10\n{SDK_G}\n')
    (root / 'extrinsics').mkdir()
    (root / 'extrinsics' / 'stereo.txt').write_text('0 0 0 0 0 0\n')
    (root / 'extrinsics' / 'lms_front.txt').write_text(extrinsics + '\n')
    run = root / 'run'
    (run / 'stereo' / 'centre').mkdir(parents=True)
    (run / 'vo').mkdir()
    (run / 'vo' / 'vo.csv').write_text(
        'source_timestamp,destination_timestamp,x,y,z,roll,pitch,yaw\n'
        '1100000,1000000,2,0,0,0,0,0\n1200000,1100000,2,0,0,0,0,0\n')
    (run / 'lms_front').mkdir()
    for time, points in scans.items():
        np.asarray(points, dtype=np.float64).tofile(run / 'lms_front' / f'{time}.bin')
    return LidarGroundTruth(run / 'stereo' / 'centre', root / 'models', root / 'extrinsics',
                            (30, 40))


def test_lidar_projection_by_hand(tmp_path):
    # The laser sits 1 m ahead of and 0.5 m below the camera, turned 90 degrees right: its
    # point (x 1, y -9) is the vehicle's (10, 1, 0.5), the image's (1, 0.5, 10): pixel
    # u = 100 * 1 / 10 + 20 = 30, v = 100 * 0.5 / 10 + 10 = 15, depth 10.
    # The same point scanned at 1.15 s, halfway to the next VO pose (1 m further on), is
    # the vehicle's (11, 1, 0.5) at 1.1 s: u = 29.09 -> 29, v = 14.55 -> 15, depth 11.
    ground_truth = write_tiny_run(tmp_path, {1100000: [1, -9, 0.3], 1150000: [1, -9, 0.7]})
    depth = ground_truth(1100000)
    assert depth.shape == (30, 40) and depth.dtype == torch.float32
    assert torch.nonzero(depth).tolist() == [[15, 29], [15, 30]]
    assert depth[15, 30] == pytest.approx(10.0, abs=1e-9)
    assert depth[15, 29] == pytest.approx(11.0, abs=1e-9)
    # Seen from 1.2 s the points are 2 m closer: (8, 1, 0.5) and (9, 1, 0.5).
    later = ground_truth(1200000)
    assert torch.nonzero(later).tolist() == [[16, 31], [16, 32]]
    assert later[16, 31] == pytest.approx(9.0) and later[16, 32] == pytest.approx(8.0)


def test_nearest_point_wins_and_outside_points_are_dropped():
    points = np.array([[1.0, 0.5, 10.0], [2.0, 1.0, 20.0], [1.0, 0.5, -10.0],
                       [100.0, 0.0, 1.0]])
    depth = nearest_depth(points, (100.0, 100.0, 20.0, 10.0), 30, 40)
    assert torch.nonzero(depth).tolist() == [[15, 30]] and depth[15, 30] == 10.0


def test_pose_interpolation_is_slerp_and_linear():
    poses = np.stack([se3([0, 0, 0, 0, 0, 0]), se3([2, 4, 0, 0, 0, 1.0])])
    (half,) = interpolate_poses(np.array([0, 10]), poses, [5])
    assert np.allclose(half, se3([1, 2, 0, 0, 0, 0.5]))


def test_bad_input_names_the_file(tmp_path):
    with pytest.raises(ValueError, match=r'lms_front\.txt: the first line'):
        write_tiny_run(tmp_path / 'a', {1100000: [1, -9, 0.3]}, extrinsics='1 0 0.5')
    ground_truth = write_tiny_run(tmp_path / 'b', {1100000: [1, -9, 0.3, 4.0]})
    with pytest.raises(ValueError, match=r'1100000\.bin: 32 bytes'):
        ground_truth(1100000)
    with pytest.raises(ValueError, match=r'lms_front: no scans from 1200000 to 1200000'):
        ground_truth.config.before_s = 0.0
        ground_truth(1200000)
    with pytest.raises(ValueError, match=r'vo\.csv covers 1000000 to 1200000'):
        ground_truth(2000000)
    (tmp_path / 'b' / 'extrinsics' / 'lms_front.txt').unlink()
    with pytest.raises(FileNotFoundError, match=r'extrinsics/lms_front\.txt'):
        LidarGroundTruth(tmp_path / 'b' / 'run' / 'stereo' / 'centre', tmp_path / 'b' / 'models',
                         tmp_path / 'b' / 'extrinsics', (30, 40))
    with pytest.raises(ValueError, match="'velodyne_left' is not one of"):
        LidarConfig(laser='velodyne_left')


def test_lidar_recovers_the_exact_depth(drive, run):
    row = run.laser_row
    # A frame's own scan projects onto its scan row's pixel centres with the exact depth.
    for poses in ('vo', 'ins'):
        own = lidar(run, poses=poses, before_s=0.0, after_s=0.0)
        for k in range(FRAMES):
            depth = own(run.times[k])
            exact = drive.depths[k, 0]
            known = depth > 0
            assert known[row].sum() > 0.9 * WIDTH and known.sum() == known[row].sum()
            assert torch.allclose(depth[known], exact[known], rtol=1e-5)
    # The SDK's window of 10 s either side accumulates every scan: other frames' points land
    # between pixel centres (and a few are seen through surfaces the laser never scanned).
    window, by_ins = lidar(run), lidar(run, poses='ins')
    for k in range(FRAMES):
        depth = window(run.times[k])
        assert torch.allclose(depth, by_ins(run.times[k]), rtol=1e-4)
        known = depth > 0
        error = ((depth[known] - drive.depths[k, 0][known]) / drive.depths[k, 0][known]).abs()
        assert known.sum() > 4 * WIDTH
        assert error.median() < 0.01 and (error < 0.05).float().mean() > 0.9


@pytest.fixture(scope='module')
def tiny_model():
    """Build an untrained DeFeatNet at 64 x 96."""
    torch.manual_seed(0)
    return untrained_model(ModelConfig(feature_dims=8, height=64, width=96, encoder_width=16))


def test_evaluate_robotcar(tiny_model, run):
    config = EvaluationConfig(figure_frames=2, batch=4)
    result, figures = evaluate_robotcar(tiny_model, run.folder, config, run.models_dir,
                                        name='day')
    depth = result['depth']
    assert depth['images'] == FRAMES and set(METRICS) <= set(depth)
    assert 0.0 < depth['abs_rel'] < 10.0 and 0.0 <= depth['a1'] <= depth['a2'] <= 1.0
    assert set(figures) == {'depth_day'} and figures['depth_day'].ndim == 3
    result, _ = evaluate_robotcar(tiny_model, run.folder, config, run.models_dir, frames=2,
                                  camera={'crop': [0, 10, 0, 0]}, lidar={'before_s': 1.0})
    assert result['depth']['images'] == 2


def test_perfect_depth_scores_zero_error(tiny_model, drive, run, monkeypatch):
    # The exact depth as the prediction, through the whole evaluation: with each frame's own
    # scan as ground truth the error is zero; with the bonnet cropped too.
    frames = iter(drive.depths)
    monkeypatch.setattr(robotcar_evaluation, 'predict_depth',
                        lambda model, images, batch: torch.stack([next(frames)
                                                                  for _ in images]))
    result, _ = evaluate_robotcar(tiny_model, run.folder, EvaluationConfig(batch=4),
                                  run.models_dir,
                                  lidar={'before_s': 0.0, 'after_s': 0.0})
    assert result['depth']['abs_rel'] < 1e-6 and result['depth']['a1'] == 1.0
    frames = iter(drive.depths[:, :, 5:])
    result, _ = evaluate_robotcar(tiny_model, run.folder, EvaluationConfig(batch=4),
                                  run.models_dir,
                                  camera={'crop': [5, 0, 0, 0]},
                                  lidar={'before_s': 0.0, 'after_s': 0.0})
    assert result['depth']['abs_rel'] < 1e-6
    # Scoring the accumulated ground truth against the exact depth: small but not zero.
    evaluation = DepthEvaluation(False, False)
    window = lidar(run)
    for k in range(FRAMES):
        evaluation.add(drive.depths[k], window(run.times[k])[None])
    assert evaluation.summary()['abs_rel'] < 0.05


def test_frame_indices():
    assert frame_indices(5) == [0, 1, 2, 3, 4]
    assert frame_indices(10, 2) == [2, 7]
    assert frame_indices(10, [3, 1, 3]) == [1, 3]
    with pytest.raises(ValueError, match=r'in 0\.\.9'):
        frame_indices(10, [10])
