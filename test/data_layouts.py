"""Tiny datasets written in the real layouts of the datasets the loaders read."""

import cv2
from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.geometry import pixel_intrinsics_opencv
import numpy as np


def mosaic(rgb, pattern):
    """Sample an RGB uint8 image with a Bayer pattern ('gbrg': G B on even rows, R G on odd)."""
    out = np.zeros(rgb.shape[:2], np.uint8)
    for position, colour in enumerate(pattern):
        row, col = divmod(position, 2)
        out[row::2, col::2] = rgb[row::2, col::2, 'rgb'.index(colour)]
    return out


def write_robotcar_run(sequence, root, times):
    """
    Write ``sequence`` as a RobotCar stereo centre folder of Bayer (gbrg) PNGs and SDK models.

    :param sequence: a FrameSequence.
    :param root: folder to write into.
    :param times: one capture time per frame, microseconds.
    :return: (image folder, models folder).
    """
    folder = root / '2014-12-09-13-21-02' / 'stereo' / 'centre'
    folder.mkdir(parents=True)
    for number, rgb in enumerate(images_uint8(sequence.images)):
        cv2.imwrite(str(folder / f'{times[number]}.png'), mosaic(rgb, 'gbrg'))
    height, width = sequence.images.shape[-2:]
    models = root / 'models'
    models.mkdir()
    fx, fy, cx, cy = pixel_intrinsics_opencv(sequence.k_norm, height, width)
    g_camera_image = '\n'.join(' '.join(f'{v:.6f}' for v in row) for row in np.eye(4))
    (models / 'stereo_narrow_left.txt').write_text(
        f'{fx:.9f} {fy:.9f} {cx:.9f} {cy:.9f}\n{g_camera_image}\n')
    columns, rows = np.meshgrid(np.arange(width, dtype=np.float64),
                                np.arange(height, dtype=np.float64))
    np.concatenate([columns.reshape(-1), rows.reshape(-1)]).tofile(
        models / 'stereo_narrow_left_distortion_lut.bin')
    return folder, models
