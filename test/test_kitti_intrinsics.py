"""KITTI intrinsics against the images on disk: same size or pure resizes pass, crops fail."""

from pathlib import Path
import re
import shutil

import cv2
from defeat_ros.data.kitti import KittiDataset
from defeat_ros.data.kitti_calib import projection_intrinsics, read_calib_file
from defeat_ros.data.kitti_writer import write_kitti_raw
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.geometry import pixel_intrinsics_opencv
import pytest
import torch

WIDTH, HEIGHT = 124, 38
"""About KITTI's 1242 x 375 proportions, a tenth of the size."""
SHARED = Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'kitti_object_frames'
PLAIN = {'height': 32, 'width': 96, 'augment': {'enabled': False}}


@pytest.fixture(scope='module')
def drive():
    """Render a 3-frame street drive of 124 x 38 pixels, principal point off the centre."""
    return render_sequence(WorldConfig(width=WIDTH, height=HEIGHT, frames=3, seed=5,
                                       cx=0.48, cy=0.46), workers=1)


def transform_frames(folder, change, frames=None):
    """Rewrite the PNG frames of a folder (all, or those numbered in ``frames``) by ``change``."""
    for path in sorted(Path(folder).glob('*.png')):
        if frames is None or int(path.stem) in frames:
            cv2.imwrite(str(path), change(cv2.imread(str(path))))


def resize_to(width, height):
    """Return a change resizing a BGR image to width x height."""
    return lambda image: cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def raw_drive(drive, tmp_path, change=None, frames=None):
    """Write the drive as KITTI raw, change its frames; return (root, image folder)."""
    root = tmp_path / 'raw'
    images = write_kitti_raw(drive, root) / 'image_02' / 'data'
    if change is not None:
        transform_frames(images, change, frames)
    return root, images


def refused(config, *parts):
    """Assert that opening (and reading sample 0 of) a dataset raises naming ``parts``."""
    with pytest.raises(ValueError) as error:
        KittiDataset(config, PLAIN)[0]
    message = str(error.value)
    for part in parts:
        assert part in message, message
    return message


# KITTI raw: the calibrated size is S_rect_02 -----------------------------------------------


def test_raw_matching_size_gives_the_exact_intrinsics(drive, tmp_path):
    root, _ = raw_drive(drive, tmp_path)
    dataset = KittiDataset({'root': str(root)}, PLAIN)
    assert dataset.sources[0].size == (WIDTH, HEIGHT)
    assert torch.allclose(dataset[0]['k_norm'], drive.k_norm, atol=1e-6)


def test_raw_uniformly_resized_copy_keeps_the_same_normalised_intrinsics(drive, tmp_path):
    root, images = raw_drive(drive, tmp_path, resize_to(62, 19))
    assert cv2.imread(str(images / '0000000000.png')).shape[:2] == (19, 62)
    dataset = KittiDataset({'root': str(root)}, PLAIN)
    assert dataset.sources[0].size == (WIDTH, HEIGHT)  # the calibrated size
    assert torch.allclose(dataset[0]['k_norm'], drive.k_norm, atol=1e-6)
    # the pixel intrinsics of the resized frames are the calibration's, scaled by 1/2
    fx, fy, cx, cy = pixel_intrinsics_opencv(drive.k_norm, HEIGHT, WIDTH)
    small = pixel_intrinsics_opencv(dataset[0]['k_norm'], 19, 62)
    assert small == pytest.approx((fx / 2, fy / 2, (cx + 0.5) / 2 - 0.5, (cy + 0.5) / 2 - 0.5))


def test_raw_cropped_like_1216x352_from_1242x375_is_refused(drive, tmp_path):
    root, images = raw_drive(drive, tmp_path, lambda image: image[3:, 1:-2])  # 121 x 35
    message = refused({'root': str(root)}, str(images / '0000000000.png'), 'found 121x35',
                      'calibrated 124x38', 'calib_cam_to_cam.txt', 'Use the original 124x38')
    assert re.search(r'aspect ratio \+\d+\.\d%', message)


def test_raw_cut_rows_are_refused(drive, tmp_path):
    root, _ = raw_drive(drive, tmp_path, lambda image: image[8:])
    refused({'root': str(root)}, 'found 124x30', 'calibrated 124x38')


def test_raw_aspect_changing_resize_is_refused(drive, tmp_path):
    root, _ = raw_drive(drive, tmp_path, resize_to(64, 32))
    refused({'root': str(root)}, 'found 64x32', 'calibrated 124x38', 'aspect')


def test_raw_one_cropped_frame_is_refused_when_read(drive, tmp_path):
    root, images = raw_drive(drive, tmp_path, lambda image: image[4:], frames={2})
    dataset = KittiDataset({'root': str(root)}, PLAIN)  # frame 0 is fine
    with pytest.raises(ValueError, match=re.escape(str(images / '0000000002.png'))):
        dataset[0]  # target 1, sources 0 and 2


def test_raw_principal_point_outside_the_stated_size_is_refused(drive, tmp_path):
    root, _ = raw_drive(drive, tmp_path)
    calib = root / '2011_09_26' / 'calib_cam_to_cam.txt'
    text, count = re.subn(r'^S_rect_02: .*$', f'S_rect_02: {WIDTH / 4} {HEIGHT}',
                          calib.read_text(), flags=re.M)
    assert count == 1
    calib.write_text(text)
    refused({'root': str(root)}, 'principal point lies outside', '31x38', str(calib))


def test_raw_without_s_rect_takes_the_first_frame_if_its_principal_point_is_central(
        drive, tmp_path):
    root, images = raw_drive(drive, tmp_path)
    calib = root / '2011_09_26' / 'calib_cam_to_cam.txt'
    calib.write_text(''.join(line for line in calib.read_text().splitlines(True)
                             if not line.startswith('S_rect_02')))
    dataset = KittiDataset({'root': str(root)}, PLAIN)
    assert torch.allclose(dataset[0]['k_norm'], drive.k_norm, atol=1e-6)
    transform_frames(images, resize_to(62, 19))
    refused({'root': str(root)}, 'states no image size', '62x19', str(images / '0000000000.png'))


# KITTI odometry: no stated size; the first frame's, if the principal point is central -------


def odometry_sequence(tmp_path, image, calib, count=3):
    """Write ``count`` copies of one image and a calib.txt as odometry sequence 04."""
    sequence = tmp_path / 'sequences' / '04'
    (sequence / 'image_2').mkdir(parents=True)
    for number in range(count):
        shutil.copy(image, sequence / 'image_2' / f'{number:06d}.png')
    shutil.copy(calib, sequence / 'calib.txt')
    return {'root': str(tmp_path), 'split': str(write_split(tmp_path))}, sequence


def write_split(tmp_path):
    """Write a split file naming frame 1 of odometry sequence 4, left camera."""
    path = tmp_path / 'odom.txt'
    path.write_text('4 1 l\n')
    return path


def shared_frames():
    """Skip (with the reason printed) when the shared KITTI object frames are absent."""
    if not (SHARED / 'image_2' / '000000.png').is_file():
        pytest.skip(f'shared KITTI object frames not found at {SHARED}')
    return SHARED


def test_odometry_original_frames_give_the_exact_intrinsics(tmp_path):
    frames = shared_frames()
    config, _ = odometry_sequence(tmp_path, frames / 'image_2' / '000000.png',
                                  frames / 'calib' / '000000.txt')
    p2 = read_calib_file(frames / 'calib' / '000000.txt')['P2'].reshape(3, 4)
    k_norm = KittiDataset(config, PLAIN)[0]['k_norm']
    assert torch.allclose(k_norm, projection_intrinsics(p2, 1224, 370))
    assert float(k_norm[0, 0]) == pytest.approx(707.0493 / 1224)  # 0.578


def test_odometry_pre_resized_640x192_is_refused(tmp_path):
    frames = shared_frames()
    small = tmp_path / 'small.png'
    original = cv2.imread(str(frames / 'image_2' / '000000.png'))
    cv2.imwrite(str(small), resize_to(640, 192)(original))
    config, sequence = odometry_sequence(tmp_path, small, frames / 'calib' / '000000.txt')
    # Before the check this loaded with fx 707.05 / 640 = 1.105 (normalised) instead of 0.578.
    refused(config, str(sequence / 'image_2' / '000000.png'), 'states no image size',
            '640x192', '(0.945, 0.943)', 'Use the original frames')


def test_odometry_later_frames_resized_pass_and_cropped_are_refused(tmp_path):
    frames = shared_frames()
    config, sequence = odometry_sequence(tmp_path, frames / 'image_2' / '000000.png',
                                         frames / 'calib' / '000000.txt')
    p2 = read_calib_file(frames / 'calib' / '000000.txt')['P2'].reshape(3, 4)
    transform_frames(sequence / 'image_2', resize_to(612, 185), {1})
    assert torch.allclose(KittiDataset(config, PLAIN)[0]['k_norm'],
                          projection_intrinsics(p2, 1224, 370))
    transform_frames(sequence / 'image_2', lambda image: image[18:, 4:-4], {2})  # 1216 x 352
    refused(config, str(sequence / 'image_2' / '000002.png'), 'found 1216x352',
            'calibrated 1224x370')


def test_odometry_synthetic_pre_resized_frames_are_refused(drive, tmp_path):
    # the same rule on a synthetic camera (principal point at 0.48, 0.46), without shared data
    fx, fy, cx, cy = pixel_intrinsics_opencv(drive.k_norm, HEIGHT, WIDTH)
    calib = tmp_path / 'calib.txt'
    p2 = f'{fx} 0 {cx} 0 0 {fy} {cy} 0 0 0 1 0'
    calib.write_text(f'P0: {p2}\nP1: {p2}\nP2: {p2}\nP3: {p2}\n')
    image = tmp_path / 'frame.png'
    root, images = raw_drive(drive, tmp_path)
    shutil.copy(images / '0000000000.png', image)
    config, _ = odometry_sequence(tmp_path / 'odometry', image, calib)
    assert torch.allclose(KittiDataset(config, PLAIN)[0]['k_norm'], drive.k_norm, atol=1e-6)
    cv2.imwrite(str(image), resize_to(64, 20)(cv2.imread(str(image))))
    config, _ = odometry_sequence(tmp_path / 'resized', image, calib)
    refused(config, 'states no image size', '64x20')
