"""
Oxford RobotCar visual odometry (the SDK's ``vo/vo.csv``): where the camera was, how fast it went.

Each row of vo.csv is ``source_timestamp, destination_timestamp, x, y, z, roll, pitch, yaw``
(times in microseconds, metres, radians): the pose of the stereo frame at its source time
relative to the frame at its destination time (the previous row's source), rotations
``Rz(yaw) Ry(pitch) Rx(roll)``. Chained as the SDK's ``interpolate_vo_poses`` chains them, they
give the camera's positions; each row alone gives the mean speed between its two frames.
"""

from defeat_ros.data.frame_windows import check_increasing
import numpy as np


def euler_to_so3(rpy):
    """
    Return the SDK's rotations ``Rz(yaw) Ry(pitch) Rx(roll)`` of Euler angles.

    :param rpy: N x 3 roll, pitch, yaw in radians.
    :return: N x 3 x 3 float64.
    """
    cr, cp, cy = np.cos(rpy).T
    sr, sp, sy = np.sin(rpy).T
    return np.stack([
        np.stack([cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr], axis=-1),
        np.stack([sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr], axis=-1),
        np.stack([-sp, cp * sr, cp * cr], axis=-1)], axis=1)


def read_vo_rows(path):
    """
    Read the rows of an SDK ``vo.csv``, checking that their times follow each other.

    :param path: the vo.csv (a header line, then 8 comma-separated columns per row).
    :return: (N + 1 int64 frame times in microseconds: the first row's destination, then every
        row's source; N x 8 float64 rows).
    :raises ValueError: naming the file when the rows are not 8 numbers or times do not increase.
    """
    rows = np.loadtxt(path, delimiter=',', skiprows=1, ndmin=2)
    if rows.shape[0] == 0 or rows.shape[1] != 8:
        raise ValueError(f'{path}: expected rows of source_timestamp, destination_timestamp, '
                         f'x, y, z, roll, pitch, yaw; got {rows.shape[1]} columns')
    times = np.concatenate([rows[:1, 1], rows[:, 0]]).astype(np.int64)
    check_increasing(times, f'visual odometry {path}', 1e-6)
    return times, rows


def read_vo_speeds(path):
    """
    Return the camera's mean speed over each row of an SDK ``vo.csv``.

    :param path: the vo.csv.
    :return: (N int64 times in microseconds: the middle of each row's two frame times, rounded
        down; N float64 speeds in m/s: ``|(x, y, z)| / |source_timestamp -
        destination_timestamp|``).
    :raises ValueError: naming the file when the rows are malformed or a row's two times are
        equal.
    """
    _, rows = read_vo_rows(path)
    source, destination = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64)
    seconds = np.abs(source - destination) / 1e6
    if not seconds.all():
        raise ValueError(f'{path}: data row {int(np.argmin(seconds)) + 1} has equal source and '
                         'destination timestamps')
    return (source + destination) // 2, np.linalg.norm(rows[:, 2:5], axis=1) / seconds


def read_vo_positions(path):
    """
    Chain the relative poses of an SDK ``vo.csv`` into positions, as ``interpolate_vo_poses``.

    Row k gives the pose of the frame at its ``source_timestamp`` relative to the frame at its
    ``destination_timestamp`` (the previous row's source); the first row's destination is the
    origin.

    :param path: the vo.csv (a header line, then 8 comma-separated columns per row).
    :return: (N + 1 int64 times in microseconds, N + 1 x 3 float64 positions in metres).
    :raises ValueError: naming the file when the rows are not 8 numbers or times do not increase.
    """
    times, rows = read_vo_rows(path)
    rotations = euler_to_so3(rows[:, 5:8])
    positions = np.zeros((len(times), 3))
    pose = np.eye(3)
    for number, (rotation, step) in enumerate(zip(rotations, rows[:, 2:5])):
        positions[number + 1] = positions[number] + pose @ step
        pose = pose @ rotation
    return times, positions
