"""DeFeat-Net's feature evaluation on KITTI raw: oxts poses, camera motions, LiDAR scans."""

from dataclasses import replace
import logging
import math

from defeat_ros.data.body_motion import body_trajectory
from defeat_ros.data.kitti_oxts import (camera_motions, EARTH_RADIUS, OXTS_FIELDS, oxts_poses,
                                        read_oxts_packets)
from defeat_ros.data.kitti_split import SplitEntry
from defeat_ros.data.kitti_writer import OXTS_ORIGIN, STEREO_BASELINE, write_kitti_raw
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.evaluation.features import FeatureEvaluation, true_correspondences
from defeat_ros.evaluation.kitti_raw import evaluate_kitti
from defeat_ros.evaluation.pose import relative_motions
from defeat_ros.evaluation.protocol import EvaluationConfig
from defeat_ros.evaluation.report import FEATURE_COLUMNS, markdown_report
from defeat_ros.evaluation.velodyne import (raw_camera_from_imu, read_calibration,
                                            read_velodyne, velodyne_depth)
from defeat_ros.geometry import rpy_to_matrix, scale_intrinsics
from defeat_ros.nets import load_model
import numpy as np
import pytest
import torch

FRAMES, HEIGHT, WIDTH = 6, 64, 96
DATE = '2011_09_26'
DRIVE = f'{DATE}/{DATE}_drive_0001_sync'
FIELD = {name: number for number, name in enumerate(OXTS_FIELDS)}


@pytest.fixture(scope='module')
def sequence():
    """Render a short street drive with exact depth and poses."""
    return render_sequence(WorldConfig(width=WIDTH, height=HEIGHT, frames=FRAMES, seed=5))


@pytest.fixture(scope='module')
def root(sequence, tmp_path_factory):
    """Write the drive as KITTI raw drive 1, and again as drive 2 without oxts packets."""
    root = tmp_path_factory.mktemp('kitti')
    write_kitti_raw(sequence, root, date=DATE, drive=1)
    bare = write_kitti_raw(sequence, root, date=DATE, drive=2)
    for path in sorted((bare / 'oxts').rglob('*'), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (bare / 'oxts').rmdir()
    return root


def true_motions(sequence):
    """Return T_cam(k+1)_cam(k) of the sequence's exact poses."""
    return relative_motions(sequence.poses.double())


def oxts_motions(root, camera=2):
    """Return the camera motions from the drive's oxts packets and calibration."""
    _, packets = read_oxts_packets(root / DRIVE / 'oxts' / 'data')
    return camera_motions(oxts_poses(packets), raw_camera_from_imu(root / DATE, camera))


def lidar_depth(root, frame):
    """Project the written scan of a frame with the written calibration."""
    scan = read_velodyne(root / DRIVE / 'velodyne_points' / 'data' / f'{frame:010d}.bin')
    return velodyne_depth(scan, read_calibration(root / DATE, 2), HEIGHT, WIDTH)


def test_oxts_poses_follow_the_devkit_mercator():
    # Two packets on the equator 1e-5 degrees of longitude apart, the second turned 90 degrees
    # left and 2 m higher: 1.113 m east, Rz(90).
    packets = np.zeros((2, len(OXTS_FIELDS)))
    packets[1, FIELD['lon']] = 1e-5
    packets[1, FIELD['alt']] = 2.0
    packets[1, FIELD['yaw']] = math.pi / 2
    poses = oxts_poses(packets)
    assert np.allclose(poses[0], np.eye(4))
    assert np.allclose(poses[1, :3, 3], [EARTH_RADIUS * math.radians(1e-5), 0.0, 2.0])
    assert np.allclose(poses[1, :3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    # Rotation order: Rz(yaw) Ry(pitch) Rx(roll).
    packets[1, [FIELD['roll'], FIELD['pitch'], FIELD['yaw']]] = (0.1, -0.2, 0.3)
    assert np.allclose(oxts_poses(packets)[1, :3, :3], rpy_to_matrix(0.1, -0.2, 0.3))


def test_oxts_poses_give_the_synthetic_trajectory_back(sequence, root):
    numbers, packets = read_oxts_packets(root / DRIVE / 'oxts' / 'data')
    assert numbers.tolist() == list(range(FRAMES))
    relative = oxts_poses(packets)
    truth = body_trajectory(sequence.poses).numpy()  # IMU = body frame at the camera
    assert np.abs(relative - truth).max() < 1e-6
    absolute = oxts_poses(packets, relative=False)
    latitude, longitude, altitude = OXTS_ORIGIN
    scale = math.cos(math.radians(latitude))
    origin = [scale * EARTH_RADIUS * math.radians(longitude),
              scale * EARTH_RADIUS * math.log(math.tan(math.radians(90 + latitude) / 2)),
              altitude]
    assert np.allclose(absolute[0, :3, 3], origin, rtol=0, atol=1e-6)
    assert np.allclose(np.linalg.inv(absolute[0]) @ absolute, relative, atol=1e-6)


def test_camera_motions_from_oxts_are_the_true_motions(sequence, root):
    motions = oxts_motions(root)
    truth = true_motions(sequence)
    assert motions.shape == (FRAMES - 1, 4, 4)
    assert np.abs(motions - truth).max() < 1e-6
    assert (np.linalg.norm(truth[:, :3, 3], axis=1) > 0.3).all()  # the car does move


def test_camera_from_imu_composes_the_raw_calibration(tmp_path):
    # An IMU point goes to the Velodyne, camera 0, the rectified camera 0, then camera 3.
    imu_r, imu_t = rpy_to_matrix(0.01, -0.02, 0.03), np.array([-0.8, 0.3, -0.7])
    velo_r = rpy_to_matrix(0.02, 0.01, -0.01) @ np.array([[0, -1, 0], [0, 0, -1], [1, 0, 0.0]])
    velo_t, rect = np.array([-0.004, -0.076, -0.27]), rpy_to_matrix(0.001, 0.002, -0.003)
    k_pix = np.array([[720.0, 0, 600], [0, 720, 180], [0, 0, 1]])
    offset = np.array([-0.48, 0.003, 0.002])
    p_rect = np.concatenate([k_pix, (k_pix @ offset)[:, None]], axis=1)

    def line(key, values):
        return f'{key}: ' + ' '.join(repr(float(v)) for v in np.ravel(values)) + '\n'

    (tmp_path / 'calib_imu_to_velo.txt').write_text(line('R', imu_r) + line('T', imu_t))
    (tmp_path / 'calib_velo_to_cam.txt').write_text(line('R', velo_r) + line('T', velo_t))
    (tmp_path / 'calib_cam_to_cam.txt').write_text(
        'calib_time: 09-Jan-2012 13:57:47\n' + line('R_rect_00', rect) + line('P_rect_03', p_rect)
        + line('S_rect_03', [1242, 375]))
    point = np.array([5.0, -2.0, 1.0])
    expected = rect @ (velo_r @ (imu_r @ point + imu_t) + velo_t) + offset
    transform = raw_camera_from_imu(tmp_path, 3)
    assert np.allclose(transform[:3, :3] @ point + transform[:3, 3], expected, atol=1e-12)
    calibration = read_calibration(tmp_path, 3)
    assert np.allclose(calibration.t_camera_rect()[:3, 3], offset)


def test_camera_motions_undo_an_offset_mount():
    # Camera poses, an IMU mounted off the camera: the IMU's poses give the camera's motions.
    rng = np.random.default_rng(0)
    cameras = np.tile(np.eye(4), (4, 1, 1))
    for k in range(4):
        cameras[k, :3, :3] = rpy_to_matrix(*rng.normal(0, 0.1, 3))
        cameras[k, :3, 3] = rng.normal(0, 2, 3)
    t_camera_imu = np.eye(4)
    t_camera_imu[:3, :3] = rpy_to_matrix(-1.5, 0.05, -1.6)
    t_camera_imu[:3, 3] = (0.3, 1.1, -0.8)
    imu = cameras @ t_camera_imu  # T_world_imu = T_world_cam T_cam_imu
    assert np.allclose(camera_motions(imu, t_camera_imu), relative_motions(cameras))


def test_right_camera_is_one_baseline_right(root):
    # Same motion seen from camera 3, 0.54 m to the right: conjugated by the baseline shift.
    shift = np.eye(4)
    shift[0, 3] = -STEREO_BASELINE
    assert np.allclose(read_calibration(root / DATE, 3).t_camera_rect(), shift)
    left, right = oxts_motions(root, 2), oxts_motions(root, 3)
    assert np.allclose(right, shift @ left @ np.linalg.inv(shift), atol=1e-9)


def test_written_scans_project_to_the_exact_depth(sequence, root):
    for frame in range(FRAMES):
        depth = lidar_depth(root, frame)
        exact = sequence.depths[frame, 0]
        covered = depth > 0
        assert torch.equal(depth[covered], exact[covered])
        assert (exact[covered] <= 120.0).all()
        # A sparse pattern: scan lines across the lower image, none well above the horizon.
        assert 0.2 < covered.float().mean() < 0.9
        assert not covered[:HEIGHT // 4].any() and covered[HEIGHT // 2:].any(dim=1).all()


def test_lidar_correspondences_are_the_dense_ones(sequence, root):
    motions = oxts_motions(root)
    dense_motions = true_motions(sequence)
    k_pix = scale_intrinsics(sequence.k_norm, HEIGHT, WIDTH)
    for frame in range(FRAMES - 1):
        depth = lidar_depth(root, frame)
        pixels, valid = true_correspondences(depth, torch.from_numpy(motions[frame]), k_pix)
        dense, dense_valid = true_correspondences(
            sequence.depths[frame], torch.from_numpy(dense_motions[frame]), k_pix)
        assert valid.sum() > 0.15 * HEIGHT * WIDTH
        assert not (valid & ~dense_valid).any() and (valid == (dense_valid & (depth > 0))).all()
        assert (pixels - dense)[:, valid].abs().max() < 1e-3


def test_a_perfect_descriptor_scores_auc_one(sequence, root):
    # Target features: where each pixel's true match lies; source features: each pixel's own
    # coordinates. True matches are then at distance ~0, negatives (>= 3 px away) further.
    motions = oxts_motions(root)
    k_pix = scale_intrinsics(sequence.k_norm, HEIGHT, WIDTH)
    ys, xs = torch.meshgrid(torch.arange(HEIGHT) + 0.5, torch.arange(WIDTH) + 0.5, indexing='ij')
    coordinates = torch.stack([xs, ys])
    perfect, random = FeatureEvaluation(max_anchors=500), FeatureEvaluation(max_anchors=500)
    noise = torch.Generator().manual_seed(0)
    for frame in range(FRAMES - 1):
        pixels, valid = true_correspondences(lidar_depth(root, frame),
                                             torch.from_numpy(motions[frame]), k_pix)
        perfect.add(pixels, coordinates, pixels, valid)
        random.add(torch.randn(2, HEIGHT, WIDTH, generator=noise),
                   torch.randn(2, HEIGHT, WIDTH, generator=noise), pixels, valid)
    summary = perfect.summary()
    assert summary['global_auc'] == 1.0 and summary['local_auc'] == 1.0
    assert summary['positive_distance'] < 0.1 and summary['anchors'] == 5 * 500
    assert summary['local_negative_distance'] >= 3.0 - 1.0
    chance = random.summary()
    assert 0.4 < chance['global_auc'] < 0.6 and 0.4 < chance['local_auc'] < 0.6


@pytest.fixture(scope='module')
def model(tiny_model):
    """Load the shared tiny untrained network of conftest.py (64 x 96, as the drive)."""
    return load_model(tiny_model)


def test_evaluate_kitti_scores_depth_and_features(model, root, caplog):
    # Frames 0 and 2 have a next frame; the last has none and only counts for depth.
    entries = [SplitEntry(DRIVE, frame) for frame in (0, 2, FRAMES - 1)]
    config = EvaluationConfig(max_anchors=200, figure_frames=2)
    with caplog.at_level(logging.INFO, logger='defeat_ros.evaluation.kitti_raw'):
        result, figures = evaluate_kitti(model, root, entries, config)
    assert result['depth']['images'] == 3 and 0.0 < result['depth']['abs_rel'] < 10.0
    features = result['features']
    assert set(features) == {key for key, _ in FEATURE_COLUMNS}
    assert features['anchors'] == 2 * 200
    assert 0.0 <= features['global_auc'] <= 1.0 and 0.0 <= features['local_auc'] <= 1.0
    assert features['positive_distance'] >= 0.0
    assert '2 frame pairs of 3 entries' in caplog.text and '1 x no next frame' in caplog.text
    assert set(figures) == {'depth_kitti'}
    table = markdown_report({'conditions': {'kitti': result}})
    assert '### Features' in table and '| kitti | ' in table.split('### Features')[1]
    # Monodepth2's shifted ground truth changes depth only: features use the LiDAR points at
    # their own pixels, and the same seed draws the same anchors and negatives.
    shifted, _ = evaluate_kitti(model, root, entries, replace(config, monodepth2_shift=True))
    assert shifted['features'] == features and shifted['depth'] != result['depth']


def test_evaluate_kitti_without_oxts_says_why(model, root, caplog):
    bare = f'{DATE}/{DATE}_drive_0002_sync'
    entries = [SplitEntry(bare, 0), SplitEntry(bare, 1), SplitEntry(bare, FRAMES - 1)]
    with caplog.at_level(logging.WARNING, logger='defeat_ros.evaluation.kitti_raw'):
        result, _ = evaluate_kitti(model, root, entries, EvaluationConfig(max_anchors=50))
    assert result['depth']['images'] == 3
    error = result['features']['error']
    assert error == ('no frame pair could be evaluated (1 x no next frame image; '
                     '2 x no oxts packets in the drive)')
    assert error in caplog.text
