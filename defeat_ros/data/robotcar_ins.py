"""
Oxford RobotCar GPS/INS solutions (the SDK's ``gps/ins.csv``): how fast the vehicle went.

ins.csv is a header line, ``timestamp,ins_status,latitude,longitude,altitude,northing,easting,
down,utm_zone,velocity_north,velocity_east,velocity_down,roll,pitch,yaw``, then one row per
solution (about 50 Hz): the time in microseconds, a status word, the position, the velocity in
m/s along north, east and down, and the orientation. The vehicle's speed is the norm of the
velocity. Columns are found by their header names.
"""

import csv

from defeat_ros.data.frame_windows import check_increasing
import numpy as np

INS_COLUMNS = ('timestamp', 'velocity_north', 'velocity_east', 'velocity_down')
"""The columns read: time (microseconds) and velocity (m/s)."""


def read_ins_columns(path, columns):
    """
    Read named columns of an SDK ``ins.csv``, the first being ``timestamp``.

    :param path: the ins.csv.
    :param columns: header names, ``'timestamp'`` first.
    :return: (N int64 times in microseconds, N x (len(columns) - 1) float64 values).
    :raises ValueError: naming the file when the header lacks a column, a row's values there
        are not numbers (with its line), there are no rows, or times do not increase.
    """
    with open(path, newline='') as stream:
        reader = csv.reader(stream)
        header = [name.strip() for name in next(reader, [])]
        missing = [name for name in columns if name not in header]
        if missing:
            raise ValueError(f'{path}: the header has no column {", ".join(missing)} (an SDK '
                             f'ins.csv starts with timestamp,ins_status,...); got {header}')
        indices = [header.index(name) for name in columns]
        values = []
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                values.append([float(row[index]) for index in indices])
            except (IndexError, ValueError):
                raise ValueError(f'{path}, line {line}: expected numbers in columns '
                                 f'{", ".join(columns)}, got {",".join(row)!r}') from None
    if not values:
        raise ValueError(f'{path}: no INS rows after the header')
    values = np.array(values, dtype=np.float64)
    times = values[:, 0].astype(np.int64)
    check_increasing(times, f'INS {path}', 1e-6)
    return times, values[:, 1:]


def read_ins_speeds(path):
    """
    Return the vehicle's speed in every row of an SDK ``ins.csv``.

    :param path: the ins.csv.
    :return: (N int64 times in microseconds; N float64 speeds in m/s, the norm of
        ``velocity_north, velocity_east, velocity_down``).
    :raises ValueError: as :func:`read_ins_columns`.
    """
    times, velocities = read_ins_columns(path, INS_COLUMNS)
    return times, np.linalg.norm(velocities, axis=1)
