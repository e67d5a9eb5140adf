"""``monodepth2_shift``: Monodepth2's exported ground truth (Velodyne x as depth, x >= 0 kept)."""

from pathlib import Path
import warnings

from defeat_ros.evaluation import (read_calibration, read_velodyne, velodyne_depth,
                                   VelodyneCalibration)
import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'kitti_object_frames'
HEIGHT, WIDTH = 40, 100
AHEAD = 2.0
"""The camera sits this far ahead of the scanner along Velodyne x: camera z = x - 2 m."""


def calibration():
    """Velodyne x forward, y left, z up to camera x right, y down, z forward, then 2 m on."""
    t_rect_velo = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0],
                            [1.0, 0.0, 0.0, -AHEAD], [0.0, 0.0, 0.0, 1.0]])
    projection = np.array([[100.0, 0.0, 50.0, 0.0], [0.0, 100.0, 20.0, 0.0],
                           [0.0, 0.0, 1.0, 0.0]])
    return VelodyneCalibration(projection, t_rect_velo, image_size=(HEIGHT, WIDTH))


SCAN = np.array([
    [10.0, -0.8, 0.4],  # camera (0.8, -0.4, 8): u = 60, v = 15
    [20.0, -1.8, 0.9],  # camera (1.8, -0.9, 18): the same pixel, farther: hidden
    [-10.0, 0.8, -0.4],  # x < 0, camera z = -12: would land at (56.7, 16.7)
    [1.0, 0.0, 0.0],  # x >= 0 but camera z = -1: lands at (50, 20) when projected
    [2.0, 0.0, 0.1],  # camera z = 0: cannot be projected
    [30.0, 4.2, 0.0],  # camera (-4.2, 0, 28): u = 35, v = 20
])


def project(shift):
    """Project the scan without letting any NumPy warning (division by zero) pass."""
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        return velodyne_depth(SCAN, calibration(), monodepth2_shift=shift)


def test_without_the_option_depth_is_camera_z_at_the_rounded_pixel():
    depth = project(False)
    assert depth.shape == (HEIGHT, WIDTH) and depth.dtype == torch.float32
    assert depth[15, 60].item() == pytest.approx(10.0 - AHEAD)
    assert depth[20, 35].item() == pytest.approx(30.0 - AHEAD)
    assert (depth > 0).sum().item() == 2  # behind the camera (z <= 0): dropped


def test_with_the_option_depth_is_velodyne_x_one_pixel_up_and_left():
    depth = project(True)
    assert depth[14, 59].item() == 10.0 and depth[15, 60].item() == 0.0
    assert depth[19, 34].item() == 30.0 and depth[20, 35].item() == 0.0
    # Monodepth2 filters on Velodyne x >= 0, not on camera z: the point 1 m ahead of the
    # scanner (1 m behind the camera) is kept and lands at (50, 20) - 1 with depth 1.
    assert depth[19, 49].item() == 1.0
    assert (depth > 0).sum().item() == 3  # x < 0 and camera z == 0: dropped


def test_points_behind_the_scanner_are_dropped_with_the_option():
    behind = np.array([[-10.0, 0.8, -0.4], [-0.5, 0.0, 0.0]])
    assert (velodyne_depth(behind, calibration(), monodepth2_shift=True) > 0).sum() == 0
    assert (velodyne_depth(-behind, calibration(), monodepth2_shift=True) > 0).sum() == 2


def test_real_scan_with_the_option_is_the_default_map_shifted_and_0_3_m_deeper():
    if not (SHARED / 'velodyne' / '000000.bin').is_file():
        pytest.skip(f'shared KITTI object frames not found at {SHARED}')
    scan = read_velodyne(SHARED / 'velodyne' / '000000.bin')
    calib = read_calibration(SHARED / 'calib' / '000000.txt')
    default = velodyne_depth(scan, calib, 370, 1224)
    shifted = velodyne_depth(scan, calib, 370, 1224, monodepth2_shift=True)
    both = (default[1:, 1:] > 0) & (shifted[:-1, :-1] > 0)
    assert both.sum() > 0.99 * (default > 0).sum()
    difference = shifted[:-1, :-1][both] - default[1:, 1:][both]
    print(f'velodyne x - camera z: median {difference.median():.4f} m, '
          f'{difference.min():.4f} to {difference.max():.4f} m')
    # camera z = x - offset (+ small rotation terms): the offset is 0.33 m in this frame's
    # calibration (0.27 m in others of KITTI)
    offset = -calib.velo_to_image()[2, 3]
    assert 0.25 < offset < 0.35
    assert abs(difference.median().item() - offset) < 0.02
    assert difference.min().item() > 0.1 and difference.max().item() < 0.5
