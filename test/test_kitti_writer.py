"""Write a rendered drive in the KITTI raw layout and read every file back."""

from dataclasses import replace
import re

import cv2
from defeat_ros.data.kitti_writer import (images_uint8, VELODYNE_ELEVATIONS, VELODYNE_RANGE,
                                          write_kitti_raw)
from defeat_ros.data.textured_corridor import render_drive
from defeat_ros.geometry import invert_pose, normalise_intrinsics, pixel_intrinsics_opencv
import numpy as np
import pytest
import torch

FRAMES, HEIGHT, WIDTH = 5, 64, 96


@pytest.fixture(scope='module')
def sequence():
    """Render a short drive; add sky (inf), far (> 255 m) and NaN depths and moving pixels."""
    drive = render_drive(FRAMES, HEIGHT, WIDTH, seed=1)
    depths = drive.depths.clone()
    depths[:, :, :8] = float('inf')
    depths[:, :, 8:10, :20] = 300.0
    depths[0, 0, 10, 0] = float('nan')
    moving = torch.zeros_like(depths, dtype=torch.bool)
    moving[1, :, 20:30, 40:60] = True
    moving[3, :, 50:, :10] = True
    return replace(drive, depths=depths, moving=moving)


@pytest.fixture(scope='module')
def written(sequence, tmp_path_factory):
    """Write the drive once; return its folder."""
    return write_kitti_raw(sequence, tmp_path_factory.mktemp('kitti'), date='2011_09_26', drive=1)


def read_calib(path):
    """Parse a KITTI calibration file as the usual loaders do: non-numeric values stay text."""
    values = {}
    for line in path.read_text().splitlines():
        key, value = line.split(':', 1)
        try:
            values[key] = np.array([float(x) for x in value.split()])
        except ValueError:
            values[key] = value.strip()
    return values


def test_layout_has_exactly_the_kitti_files(written):
    root = written.parents[1]
    names = [f'{index:010d}' for index in range(FRAMES)]
    drive = '2011_09_26/2011_09_26_drive_0001_sync'
    expected = {f'2011_09_26/{name}' for name in
                ('calib_cam_to_cam.txt', 'calib_velo_to_cam.txt', 'calib_imu_to_velo.txt')}
    expected |= {f'{drive}/image_02/timestamps.txt', f'{drive}/oxts/timestamps.txt',
                 f'{drive}/velodyne_points/timestamps.txt', f'{drive}/poses.txt'}
    for name in names:
        expected |= {f'{drive}/image_02/data/{name}.png',
                     f'{drive}/proj_depth/groundtruth/image_02/{name}.png',
                     f'{drive}/moving/image_02/{name}.png',
                     f'{drive}/oxts/data/{name}.txt',
                     f'{drive}/velodyne_points/data/{name}.bin'}
    found = {str(path.relative_to(root)) for path in root.rglob('*') if path.is_file()}
    assert found == expected
    assert written == root / drive


def test_images_round_trip_exactly(sequence, written):
    expected = images_uint8(sequence.images)
    for index in range(FRAMES):
        image = cv2.imread(str(written / 'image_02' / 'data' / f'{index:010d}.png'),
                           cv2.IMREAD_UNCHANGED)
        assert image.dtype == np.uint8 and image.shape == (HEIGHT, WIDTH, 3)
        assert np.array_equal(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), expected[index])


def test_jpg_images_decode_close(sequence, tmp_path):
    drive = write_kitti_raw(sequence, tmp_path, image_format='jpg')
    files = sorted((drive / 'image_02' / 'data').iterdir())
    assert [f.name for f in files] == [f'{index:010d}.jpg' for index in range(FRAMES)]
    expected = images_uint8(sequence.images).astype(np.float64)
    for index, path in enumerate(files):
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(np.float64)
        assert np.abs(image - expected[index]).mean() < 6.0


def test_depth_round_trip_within_quantisation(sequence, written):
    for index in range(FRAMES):
        png = cv2.imread(str(written / 'proj_depth' / 'groundtruth' / 'image_02'
                             / f'{index:010d}.png'), cv2.IMREAD_UNCHANGED)
        assert png.dtype == np.uint16 and png.shape == (HEIGHT, WIDTH)
        depth = sequence.depths[index, 0].double().numpy()
        valid = np.isfinite(depth) & (depth <= 255.0)
        assert (png[~valid] == 0).all()
        assert (png[valid] > 0).all()
        assert np.abs(png[valid] / 256.0 - depth[valid]).max() <= 1.0 / 256.0
    assert valid.sum() > 0.5 * valid.size


def test_moving_masks_round_trip(sequence, written):
    for index in range(FRAMES):
        mask = cv2.imread(str(written / 'moving' / 'image_02' / f'{index:010d}.png'),
                          cv2.IMREAD_UNCHANGED)
        assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
        assert np.array_equal(mask == 255, sequence.moving[index, 0].numpy())
    assert sequence.moving.any()


def test_calibration_gives_the_sequence_intrinsics(sequence, written):
    calib = read_calib(written.parent / 'calib_cam_to_cam.txt')
    assert re.fullmatch(r'\d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d', calib['calib_time'])
    for camera in ('00', '01', '02', '03'):
        for key, size in (('S', 2), ('K', 9), ('D', 5), ('R', 9), ('T', 3), ('S_rect', 2),
                          ('R_rect', 9), ('P_rect', 12)):
            assert calib[f'{key}_{camera}'].shape == (size,), f'{key}_{camera}'
    p_rect = calib['P_rect_02'].reshape(3, 4)
    k_norm = normalise_intrinsics(p_rect[0, 0], p_rect[1, 1], p_rect[0, 2], p_rect[1, 2],
                                  WIDTH, HEIGHT)
    assert torch.allclose(k_norm, sequence.k_norm, atol=1e-7)
    assert np.array_equal(p_rect[:, 3], np.zeros(3))
    assert np.array_equal(calib['P_rect_00'], calib['P_rect_02'])
    assert np.array_equal(calib['K_02'].reshape(3, 3), p_rect[:, :3])
    assert np.array_equal(calib['R_rect_00'].reshape(3, 3), np.eye(3))
    assert np.array_equal(calib['S_rect_02'], [WIDTH, HEIGHT])
    baseline = -calib['P_rect_03'][3] / calib['P_rect_03'][0]
    assert baseline == pytest.approx(0.54)


def test_rigid_calibrations_parse(written):
    velo = read_calib(written.parent / 'calib_velo_to_cam.txt')
    imu = read_calib(written.parent / 'calib_imu_to_velo.txt')
    rotation = velo['R'].reshape(3, 3)
    assert np.allclose(rotation @ rotation.T, np.eye(3))
    assert np.array_equal(rotation @ [1.0, 0.0, 0.0], [0.0, 0.0, 1.0])  # velo forward = cam z
    assert np.array_equal(velo['T'], np.zeros(3))
    assert np.array_equal(imu['R'].reshape(3, 3), np.eye(3))
    assert np.array_equal(imu['T'], np.zeros(3))
    assert isinstance(velo['calib_time'], str) and isinstance(imu['calib_time'], str)


def test_poses_are_kitti_odometry_poses(sequence, written):
    lines = (written / 'poses.txt').read_text().splitlines()
    assert len(lines) == FRAMES
    poses = torch.tensor([[float(x) for x in line.split()] for line in lines],
                         dtype=torch.float64)
    assert poses.shape == (FRAMES, 12)
    expected = invert_pose(sequence.poses[:1].double()) @ sequence.poses.double()
    assert torch.allclose(poses.view(FRAMES, 3, 4), expected[:, :3], atol=1e-9)
    assert torch.allclose(poses[0], torch.eye(4, dtype=torch.float64)[:3].reshape(-1))


def test_timestamps_have_kitti_format_and_spacing(sequence, written):
    lines = (written / 'image_02' / 'timestamps.txt').read_text().splitlines()
    assert len(lines) == FRAMES
    pattern = r'(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{9})'
    seconds = []
    for line in lines:
        match = re.fullmatch(pattern, line)
        assert match and match.group(1, 2, 3) == ('2011', '09', '26')
        hours, minutes, secs, nanos = (int(g) for g in match.group(4, 5, 6, 7))
        seconds.append(3600 * hours + 60 * minutes + secs + nanos * 1e-9)
    elapsed = np.array(seconds) - seconds[0]
    assert np.allclose(elapsed, sequence.stamps.numpy() - sequence.stamps[0].item(), atol=1e-9)
    assert (written / 'oxts' / 'timestamps.txt').read_text().splitlines() == lines
    assert (written / 'velodyne_points' / 'timestamps.txt').read_text().splitlines() == lines


def test_velodyne_scans_sample_the_depth_on_scan_lines(sequence, written):
    # Camera and velodyne coincide (velo x forward = camera z): each point's x is the depth of
    # the pixel it projects into, and points come one per crossed pixel, each within range.
    fx, fy, cx, cy = pixel_intrinsics_opencv(sequence.k_norm, HEIGHT, WIDTH)
    for index in range(FRAMES):
        raw = np.fromfile(written / 'velodyne_points' / 'data' / f'{index:010d}.bin', np.float32)
        assert raw.size % 4 == 0
        points = raw.reshape(-1, 4).astype(np.float64)
        x, y, z, reflectance = points.T
        assert len(points) > 0.2 * HEIGHT * WIDTH
        assert ((x > 0) & (x <= VELODYNE_RANGE)).all()
        assert ((reflectance >= 0) & (reflectance <= 1)).all()
        column = np.floor(cx - fx * y / x + 0.5).astype(int)
        row = np.floor(cy - fy * z / x + 0.5).astype(int)
        assert ((column >= 0) & (column < WIDTH) & (row >= 0) & (row < HEIGHT)).all()
        assert len(set(zip(row, column))) == len(points)  # one point per pixel
        depth = sequence.depths[index, 0].double().numpy()
        assert np.allclose(x, depth[row, column], rtol=1e-6)
        # Nothing above the top scan line (+2 degrees): elevations within the HDL-64E's fan.
        elevation = np.degrees(np.arctan2(z, np.hypot(x, y)))
        assert elevation.max() < 2.5 and elevation.min() > -25.0
    assert VELODYNE_ELEVATIONS.shape == (64,)


def test_refuses_to_overwrite_a_drive(sequence, tmp_path):
    drive = write_kitti_raw(sequence, tmp_path, drive=7)
    with pytest.raises(FileExistsError, match=re.escape(str(drive))):
        write_kitti_raw(sequence, tmp_path, drive=7)
    assert write_kitti_raw(sequence, tmp_path, drive=8).name == '2011_09_26_drive_0008_sync'


def test_refuses_a_different_calibration_for_the_same_date(sequence, tmp_path):
    write_kitti_raw(sequence, tmp_path, drive=1)
    other = replace(sequence, k_norm=sequence.k_norm * torch.tensor([[1.1], [1.0], [1.0]]))
    with pytest.raises(FileExistsError, match='calib_cam_to_cam.txt'):
        write_kitti_raw(other, tmp_path, drive=2)
    assert not (tmp_path / '2011_09_26' / '2011_09_26_drive_0002_sync').exists()


@pytest.mark.parametrize('arguments', [
    {'image_format': 'bmp'}, {'date': '2011-09-26'}, {'date': '2011_13_01'}, {'drive': -1},
    {'drive': 10000}, {'drive': '1'}, {'jpeg_quality': 101}])
def test_bad_arguments_raise_value_error(sequence, tmp_path, arguments):
    with pytest.raises(ValueError):
        write_kitti_raw(sequence, tmp_path, **arguments)
    assert not any(tmp_path.iterdir())
