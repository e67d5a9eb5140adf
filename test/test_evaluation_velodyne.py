"""Velodyne-to-depth projection: constructed points and the real KITTI frames in shared/data."""

from pathlib import Path

import cv2
from defeat_ros.evaluation import (read_calibration, read_object_calibration,
                                   read_raw_calibration, read_velodyne, velodyne_depth,
                                   VelodyneCalibration)
import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'kitti_object_frames'

# KITTI's axes: velodyne x forward, y left, z up; camera x right, y down, z forward.
CAM_FROM_VELO = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [1.0, 0.0, 0.0, 0.0],
                          [0.0, 0.0, 0.0, 1.0]])


def shared_frames():
    """Skip (with the reason printed) when the shared KITTI frames are absent."""
    if not (SHARED / 'velodyne' / '000000.bin').is_file():
        pytest.skip(f'shared KITTI object frames not found at {SHARED}')
    return SHARED


def simple_calibration():
    projection = np.array([[100.0, 0.0, 50.0, 0.0], [0.0, 100.0, 20.0, 0.0],
                           [0.0, 0.0, 1.0, 0.0]])
    return VelodyneCalibration(projection, CAM_FROM_VELO, image_size=(40, 100))


def test_a_constructed_point_lands_in_the_hand_computed_pixel():
    # velodyne (10, -1, 0.5) is camera (1, -0.5, 10): u = 100 * 1 / 10 + 50 = 60,
    # v = 100 * -0.5 / 10 + 20 = 15.
    points = np.array([[10.0, -1.0, 0.5, 0.3]], np.float32)
    depth = velodyne_depth(points, simple_calibration())
    assert depth.shape == (40, 100) and depth.dtype == torch.float32
    assert depth[15, 60].item() == pytest.approx(10.0)
    assert (depth > 0).sum().item() == 1
    shifted = velodyne_depth(points, simple_calibration(), monodepth2_shift=True)
    assert shifted[14, 59].item() == pytest.approx(10.0)


def test_nearest_point_wins_and_points_behind_or_outside_are_dropped():
    points = np.array([
        [10.0, -1.0, 0.5],  # pixel (15, 60), 10 m
        [20.0, -2.0, 1.0],  # the same ray, 20 m: hidden
        [-10.0, 1.0, -0.5],  # behind the camera: would project to (15, 60) too
        [10.0, -10.0, 0.0],  # u = 150: right of the image
        [10.0, 0.0, 3.0],  # v = -10: above the image
        [10.0, 4.9, 0.0],  # u = 1.0: column 1
        [10.0, 5.04, 0.0],  # u = -0.4: rounds to column 0 (inside)
    ])
    depth = velodyne_depth(points, simple_calibration())
    assert depth[15, 60].item() == pytest.approx(10.0)
    assert depth[20, 1].item() == pytest.approx(10.0) and depth[20, 0].item() == 10.0
    assert (depth > 0).sum().item() == 3


def test_size_must_be_known():
    calibration = simple_calibration()
    calibration.image_size = None
    with pytest.raises(ValueError, match='height and width'):
        velodyne_depth(np.zeros((1, 3)), calibration)
    assert velodyne_depth(np.zeros((1, 3)), calibration, 4, 5).shape == (4, 5)


def test_real_frames_project_about_20k_points_at_4_to_80_m():
    root = shared_frames()
    for frame in ('000000', '000001', '000002'):
        height, width = cv2.imread(str(root / 'image_2' / f'{frame}.png')).shape[:2]
        scan = read_velodyne(root / 'velodyne' / f'{frame}.bin')
        assert scan.shape[1] == 4 and len(scan) > 100000
        depth = velodyne_depth(scan, read_calibration(root / 'calib' / f'{frame}.txt'),
                               height, width)
        valid = depth[depth > 0]
        print(f'{frame}: {valid.numel()} pixels, {valid.min():.2f}-{valid.max():.2f} m')
        assert 18000 < valid.numel() < 21000
        assert 4.0 < valid.min().item() and valid.max().item() < 80.0


def test_real_calibration_projects_a_hand_computed_point():
    root = shared_frames()
    calibration = read_object_calibration(root / 'calib' / '000000.txt')
    # Computed by hand from calib/000000.txt: Tr_velo_to_cam, then R0_rect, then P2, applied
    # to velodyne (20, 2, -1): camera (-1.883205, 0.920963, 19.682409), rectified
    # (-2.041281, 0.860509, 19.669381), image (u, v) = (532.8955, 211.3680) at 19.674362 m.
    image = calibration.velo_to_image() @ np.array([20.0, 2.0, -1.0, 1.0])
    assert image[0] / image[2] == pytest.approx(532.8955, abs=1e-3)
    assert image[1] / image[2] == pytest.approx(211.3680, abs=1e-3)
    depth = velodyne_depth(np.array([[20.0, 2.0, -1.0]]), calibration, 370, 1224)
    assert depth[211, 533].item() == pytest.approx(19.674362, abs=1e-4)
    assert (depth > 0).sum().item() == 1


def write_raw_calibration(folder, object_calib_file):
    """Write the object-benchmark calibration of a frame in the KITTI raw layout."""
    values = {}
    for line in Path(object_calib_file).read_text().splitlines():
        key, _, rest = line.partition(':')
        values[key] = rest.split()
    velo = np.array(values['Tr_velo_to_cam'], float).reshape(3, 4)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'calib_cam_to_cam.txt').write_text(
        'calib_time: 09-Jan-2012 13:57:47\ncorner_dist: 9.950000e-02\n'
        f"S_rect_02: 1.224000e+03 3.700000e+02\nR_rect_00: {' '.join(values['R0_rect'])}\n"
        f"P_rect_02: {' '.join(values['P2'])}\n")
    (folder / 'calib_velo_to_cam.txt').write_text(
        'calib_time: 15-Mar-2012 11:37:16\n'
        f"R: {' '.join(f'{v:.12e}' for v in velo[:, :3].flatten())}\n"
        f"T: {' '.join(f'{v:.12e}' for v in velo[:, 3])}\n"
        'delta_f: 0.000000e+00 0.000000e+00\ndelta_c: 0.000000e+00 0.000000e+00\n')
    return folder


def test_raw_and_object_layouts_give_the_same_depth(tmp_path):
    root = shared_frames()
    date = write_raw_calibration(tmp_path / '2011_09_26', root / 'calib' / '000000.txt')
    raw = read_raw_calibration(date)
    assert raw.image_size == (370, 1224)
    assert read_calibration(date).image_size == (370, 1224)
    scan = read_velodyne(root / 'velodyne' / '000000.bin')
    from_raw = velodyne_depth(scan, raw)
    from_object = velodyne_depth(scan, read_calibration(root / 'calib' / '000000.txt'),
                                 370, 1224)
    assert torch.equal(from_raw > 0, from_object > 0)
    assert torch.allclose(from_raw, from_object, atol=1e-5)
    k = raw.k_norm(370, 1224)
    assert k[0, 0].item() == pytest.approx(707.0493 / 1224)
    assert k[0, 2].item() == pytest.approx((604.0814 + 0.5) / 1224)


def test_malformed_inputs_are_reported(tmp_path):
    (tmp_path / 'broken.bin').write_bytes(np.zeros(5, np.float32).tobytes())
    with pytest.raises(ValueError, match='whole number'):
        read_velodyne(tmp_path / 'broken.bin')
    (tmp_path / 'calib.txt').write_text('P2: 1 2 3\nR0_rect: 1 0 0 0 1 0 0 0 1\n')
    with pytest.raises(ValueError, match='Tr_velo_to_cam'):
        read_object_calibration(tmp_path / 'calib.txt')
