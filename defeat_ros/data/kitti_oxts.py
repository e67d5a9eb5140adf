"""
KITTI raw oxts packets: the GPS/INS record of a drive, and the vehicle's speed in it.

A raw drive keeps one packet per file, ``oxts/data/<10 digits>.txt``, numbered like the frames,
with its capture time on the same line of ``oxts/timestamps.txt``. A packet is one line of 30
space-separated values (the raw devkit's ``dataformat.txt``):

=============================  ==================================================================
``lat lon alt``                position: degrees north, degrees east, metres
``roll pitch yaw``             radians: 0 level, positive left side up; 0 level, positive front
                               down; 0 east, positive counter-clockwise
``vn ve``                      velocity towards north and east, m/s
``vf vl vu``                   velocity forward, left, up in the vehicle frame, m/s
``ax ay az``, ``af al au``     acceleration (specific force) along x y z and forward left up, m/s^2
``wx wy wz``, ``wf wl wu``     angular rate about x y z and forward left up, rad/s
``pos_accuracy vel_accuracy``  metres, m/s
``navstat numsats``            navigation status code, number of satellites (integers)
``posmode velmode orimode``    position, velocity and orientation mode codes (integers)
=============================  ==================================================================

The vehicle's speed is the norm of its velocity in the vehicle frame, ``(vf, vl, vu)``.

Poses (:func:`oxts_poses`) are the raw devkit's (``convertOxtsToPose.m``, pykitti's
``pose_from_oxts_packet``): a Mercator projection whose scale is the cosine of the *first*
packet's latitude, ``x = scale * r * lon * pi / 180``, ``y = scale * r * log(tan((90 + lat) *
pi / 360))`` with ``r`` = :data:`EARTH_RADIUS`, ``z = alt``, and the rotation
``Rz(yaw) Ry(pitch) Rx(roll)``: ``T_world_imu`` with x east, y north, z up. The IMU's axes are
x forward, y left, z up. :func:`camera_motions` turns them into the motions of a camera rigidly
mounted on the IMU (from the drive's calibration, see
:func:`defeat_ros.evaluation.velodyne.raw_camera_from_imu`).
"""

import os

from defeat_ros.geometry import rpy_to_matrix
import numpy as np

OXTS_FIELDS = ('lat', 'lon', 'alt', 'roll', 'pitch', 'yaw', 'vn', 've', 'vf', 'vl', 'vu',
               'ax', 'ay', 'az', 'af', 'al', 'au', 'wx', 'wy', 'wz', 'wf', 'wl', 'wu',
               'pos_accuracy', 'vel_accuracy', 'navstat', 'numsats', 'posmode', 'velmode',
               'orimode')
"""The values of a packet, in the order of its line."""

STATUS_FIELDS = OXTS_FIELDS[-5:]
"""The values written as integers (status and mode codes, satellite count)."""

VELOCITY_FIELDS = ('vf', 'vl', 'vu')
"""The vehicle-frame velocity (forward, left, up) whose norm is the speed."""

EARTH_RADIUS = 6378137.0
"""Metres: the equatorial radius of the raw devkit's Mercator projection (WGS 84)."""


def read_oxts_packet(path):
    """
    Read one packet file.

    :param path: an ``oxts/data/<10 digits>.txt`` file.
    :return: 30 float64 values of its first line (the packet; as the devkit, later lines are
        not read), in the order of :data:`OXTS_FIELDS`.
    :raises ValueError: naming the file and line when that line is not 30 numbers.
    """
    with open(path) as stream:
        line = stream.readline().rstrip('\n')
    values = line.split()
    try:
        packet = np.array([float(value) for value in values], dtype=np.float64)
    except ValueError:
        packet = None
    if packet is None or len(values) != len(OXTS_FIELDS):
        raise ValueError(f'{path}, line 1: a KITTI oxts packet is {len(OXTS_FIELDS)} '
                         f'space-separated numbers, got {line!r}')
    return packet


def read_oxts_packets(folder):
    """
    Read the packets of a drive's ``oxts/data`` folder.

    :param folder: the folder (may be missing: no packets).
    :return: (N int64 packet numbers, increasing; N x 30 float64 packets), or None when the
        folder holds no ``<10 digits>.txt`` file.
    :raises ValueError: naming the file and line of a malformed packet.
    """
    try:
        names = sorted(entry.name for entry in os.scandir(folder))
    except FileNotFoundError:
        return None
    names = [name for name in names
             if name.endswith('.txt') and len(name) == 14 and name[:10].isdigit()]
    if not names:
        return None
    numbers = np.array([int(name[:10]) for name in names], dtype=np.int64)
    return numbers, np.stack([read_oxts_packet(os.path.join(folder, name)) for name in names])


def packet_speeds(packets):
    """
    Return the vehicle's speed in each packet.

    :param packets: N x 30 packets (:data:`OXTS_FIELDS`).
    :return: N float64 m/s, the norm of ``(vf, vl, vu)``.
    """
    columns = [OXTS_FIELDS.index(name) for name in VELOCITY_FIELDS]
    return np.linalg.norm(np.asarray(packets, dtype=np.float64)[:, columns], axis=1)


def oxts_line(packet):
    """
    Format one packet as its file's line (status fields as integers, the rest in full precision).

    :param packet: 30 values in the order of :data:`OXTS_FIELDS`.
    :return: the line, without a newline.
    """
    if len(packet) != len(OXTS_FIELDS):
        raise ValueError(f'a KITTI oxts packet has {len(OXTS_FIELDS)} values, got {len(packet)}')
    statuses = len(OXTS_FIELDS) - len(STATUS_FIELDS)
    return ' '.join([repr(float(value) + 0.0) for value in packet[:statuses]] +
                    [str(int(value)) for value in packet[statuses:]])


def oxts_poses(packets, relative=True):
    """
    Return the IMU poses of packets as the KITTI raw devkit computes them (module docstring).

    :param packets: N x 30 packets (:data:`OXTS_FIELDS`) of one drive, in order: the Mercator
        scale is taken at the first one's latitude, so pass the drive's packets from its start
        to reproduce the devkit exactly.
    :param relative: True (as the devkit's ``convertOxtsToPose``): ``inv(T_world_imu_0) @
        T_world_imu_i``, the first pose is the identity; False (as pykitti): ``T_world_imu_i``
        in the Mercator frame itself (x east, y north, z up; metres of the order of 1e6).
    :return: N x 4 x 4 float64 poses.
    """
    packets = np.asarray(packets, dtype=np.float64).reshape(-1, len(OXTS_FIELDS))
    lat, lon, alt, roll, pitch, yaw = packets[:, :6].T
    scale = np.cos(np.radians(lat[0])) if len(packets) else 1.0
    poses = np.tile(np.eye(4), (len(packets), 1, 1))
    poses[:, 0, 3] = scale * EARTH_RADIUS * np.radians(lon)
    poses[:, 1, 3] = scale * EARTH_RADIUS * np.log(np.tan(np.radians(90.0 + lat) / 2.0))
    poses[:, 2, 3] = alt
    poses[:, :3, :3] = np.moveaxis(rpy_to_matrix(roll, pitch, yaw), -1, 0)  # Rz Ry Rx
    if relative and len(packets):
        poses = _invert(poses[0]) @ poses
    return poses


def _invert(transform):
    """Inverse of rigid 4 x 4 transforms (... x 4 x 4)."""
    inverse = np.zeros_like(transform)
    rotation_t = np.swapaxes(transform[..., :3, :3], -1, -2)
    inverse[..., :3, :3] = rotation_t
    inverse[..., :3, 3] = -(rotation_t @ transform[..., :3, 3:])[..., 0]
    inverse[..., 3, 3] = 1.0
    return inverse


def camera_motions(imu_poses, t_camera_imu):
    """
    Return the motions of a camera rigidly mounted on the IMU between consecutive poses.

    :param imu_poses: N x 4 x 4 ``T_world_imu`` (:func:`oxts_poses`, relative or not).
    :param t_camera_imu: 4 x 4 map from IMU to camera coordinates (for a rectified KITTI raw
        camera: ``T_camX_rect0 @ R_rect_00 @ T_cam0_velo @ T_velo_imu``).
    :return: (N-1) x 4 x 4 float64 ``T_cam(k+1)_cam(k) = T_cam_imu @ inv(T_world_imu(k+1))
        @ T_world_imu(k) @ inv(T_cam_imu)``: maps camera points of frame k into frame k+1
        (as :func:`defeat_ros.evaluation.pose.relative_motions` of camera poses).
    """
    poses = np.asarray(imu_poses, dtype=np.float64)
    t_camera_imu = np.asarray(t_camera_imu, dtype=np.float64)
    steps = _invert(poses[1:]) @ poses[:-1]
    return t_camera_imu @ steps @ _invert(t_camera_imu)
