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
"""

import os

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
