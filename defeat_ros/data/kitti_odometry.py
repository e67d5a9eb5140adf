"""
The KITTI odometry benchmark's layout: ground-truth poses of a sequence, and writing one.

The benchmark keeps each sequence as::

    <root>/sequences/<NN>/image_2/<6 digits>.png   left colour camera (also image_0, _1, _3)
    <root>/sequences/<NN>/calib.txt                P0 P1 P2 P3 (rectified 3 x 4 projections of
                                                   cameras 0-3) and Tr (Velodyne to camera 0)
    <root>/sequences/<NN>/times.txt                seconds from the first frame, one per line
    <root>/poses/<NN>.txt                          sequences 00-10: line i is the row-major top
                                                   3 x 4 of camera 0's pose in frame i, in the
                                                   coordinates of camera 0 in frame 0

The frames themselves are read by :class:`~defeat_ros.data.kitti_layout.KittiDrive` (split
folder ``9`` or ``09``); this module adds what only evaluation needs: the poses.

Camera offset. The poses are camera 0's (the left grey camera); the colour camera 2 sits a few
centimetres to its left. All four are rectified into camera 0's orientation, so camera X
differs from camera 0 by a translation only, which its projection holds:
``P_X = K [I | t_X]`` maps a point ``x`` in camera 0 coordinates to ``K (x + t_X)``, so
``T_camX_cam0 = [I | t_X]`` with ``t_X = inv(K) P_X[:, 3]`` (KITTI: ``t_2`` is about +0.06 m in
x). Camera X's poses are ``T_w_cam0 @ T_cam0_camX`` (:func:`camera_poses`). The published pose
evaluations (SfMLearner, Monodepth2) score camera 2's predictions against camera 0's poses; the
offset changes a relative motion only where the car turns, by at most centimetres.

:func:`write_kitti_odometry` writes a synthetic :class:`~defeat_ros.data.frame_sequence.
FrameSequence` in this layout (``image_2`` only, PNG): the sequence's camera is camera 2, and
camera 0 is placed :data:`CAMERA2_OFFSET` to its right as on the KITTI rig (cameras 1 and 3
:data:`~defeat_ros.data.kitti_writer.STEREO_BASELINE` further right), so that the offset is
exercised exactly.
"""

from pathlib import Path

import cv2
from defeat_ros.data.kitti_calib import projection, read_calib_file
from defeat_ros.data.kitti_writer import (format_values, images_uint8, poses_text,
                                          STEREO_BASELINE, write_png)
from defeat_ros.geometry import pixel_intrinsics_opencv, R_OPTICAL_BODY
import numpy as np
import torch

CAMERA2_OFFSET = 0.06
"""Metres camera 2 sits left of camera 0 (x of ``t_2``), as on the KITTI rig (0.0595-0.0624)."""


def read_poses(path):
    """
    Read a KITTI odometry pose file.

    :param path: ``poses/<NN>.txt``: 12 numbers a line, the top 3 x 4 of each pose, row-major.
    :return: N x 4 x 4 float64 poses.
    :raises ValueError: naming the file and line of a line that is not 12 numbers.
    """
    poses = []
    with open(path) as stream:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                values = np.array([float(value) for value in line.split()])
            except ValueError:
                values = np.zeros(0)
            if values.size != 12:
                raise ValueError(f'{path}:{number}: a KITTI pose is 12 numbers, got '
                                 f'{line.strip()!r}')
            poses.append(np.vstack([values.reshape(3, 4), [0.0, 0.0, 0.0, 1.0]]))
    if not poses:
        raise ValueError(f'{path} holds no poses')
    return np.stack(poses)


def camera_offset(calib_path, camera):
    """
    Return ``T_camX_cam0`` (4 x 4 float64) of camera ``camera`` from a sequence's calib.txt.

    :raises ValueError: when ``P<camera>`` is missing or malformed.
    """
    matrix = projection(read_calib_file(calib_path), f'P{camera}', calib_path)
    transform = np.eye(4)
    transform[:3, 3] = np.linalg.solve(matrix[:, :3], matrix[:, 3])
    return transform


def camera_poses(root, sequence, camera=2):
    """
    Ground-truth poses of camera ``camera`` in a KITTI odometry sequence.

    :param root: the dataset root (holds ``sequences`` and ``poses``).
    :param sequence: the sequence number (int or text such as ``'09'``).
    :return: N x 4 x 4 float64 ``T_cam0first_camX``: camera X's poses in the coordinates of
        camera 0 in the first frame (the module docstring explains the offset).
    :raises FileNotFoundError: when the pose or calibration file is missing (only sequences
        00-10 have poses).
    """
    number = f'{int(sequence):02d}'
    pose_path = Path(root) / 'poses' / f'{number}.txt'
    calib_path = Path(root) / 'sequences' / number / 'calib.txt'
    for path, what in ((pose_path, 'ground-truth poses (the benchmark has them for 00-10)'),
                       (calib_path, 'calibration')):
        if not path.is_file():
            raise FileNotFoundError(f'{path} is missing: the {what} of KITTI odometry '
                                    f'sequence {number}')
    t_cam0_camx = np.linalg.inv(camera_offset(calib_path, camera))
    return read_poses(pose_path) @ t_cam0_camx


def calib_text(k_norm, height, width):
    """
    Return ``calib.txt`` of a rig whose camera 2 has intrinsics ``k_norm``.

    :param k_norm: 3 x 3 normalised intrinsics of camera 2 (all cameras share them).
    :return: the file's text: P0-P3 and Tr (the Velodyne at camera 2, KITTI's axes).
    """
    fx, fy, cx, cy = pixel_intrinsics_opencv(k_norm, height, width)
    k_pix = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    lines = []
    for camera in range(4):
        offset = np.array([CAMERA2_OFFSET if camera >= 2 else 0.0, 0.0, 0.0])
        offset[0] -= STEREO_BASELINE if camera % 2 else 0.0
        lines.append(f'P{camera}: ' + format_values(np.concatenate(
            [k_pix, (k_pix @ offset)[:, None]], axis=1)))
    t_cam0_velo = np.concatenate([R_OPTICAL_BODY, [[-CAMERA2_OFFSET], [0.0], [0.0]]], axis=1)
    lines.append('Tr: ' + format_values(t_cam0_velo))
    return '\n'.join(lines) + '\n'


def write_kitti_odometry(sequence, root, number=9):
    """
    Write ``sequence`` as KITTI odometry sequence ``number`` under ``root`` (module docstring).

    :param sequence: a :class:`~defeat_ros.data.frame_sequence.FrameSequence`.
    :param root: dataset root (created if missing): ``sequences/<NN>`` and ``poses/<NN>.txt``.
    :param number: the sequence number, 0..99.
    :return: the sequence folder.
    :raises FileExistsError: when the sequence folder or its pose file exists.
    :raises ValueError: for a number outside 0..99 or an empty sequence.
    """
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 99:
        raise ValueError(f'the sequence number must be an integer in 0..99, got {number!r}')
    if len(sequence) == 0:
        raise ValueError('the sequence has no frames')
    folder = Path(root) / 'sequences' / f'{number:02d}'
    pose_path = Path(root) / 'poses' / f'{number:02d}.txt'
    for path in (folder, pose_path):
        if path.exists():
            raise FileExistsError(f'{path} exists already, not overwriting')
    (folder / 'image_2').mkdir(parents=True)
    pose_path.parent.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images_uint8(sequence.images)):
        write_png(folder / 'image_2' / f'{index:06d}.png', cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    (folder / 'calib.txt').write_text(calib_text(sequence.k_norm, sequence.height,
                                                 sequence.width))
    stamps = sequence.stamps.double().cpu() - sequence.stamps[0].item()
    (folder / 'times.txt').write_text(''.join(f'{stamp:e}\n' for stamp in stamps.tolist()))
    t_cam2_cam0 = torch.eye(4, dtype=torch.float64)
    t_cam2_cam0[0, 3] = CAMERA2_OFFSET
    pose_path.write_text(poses_text(sequence.poses.double().cpu() @ t_cam2_cam0))
    return folder
