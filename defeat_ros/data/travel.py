"""
How far the vehicle travelled between two frames, from its measured speed.

Vehicles record their speed (wheel odometry, CAN, GNSS/INS). Loaders that read it give every
frame the speed at its capture time (``FrameSource.speeds``, m/s); the distance between a
target and a source frame is that speed integrated over time (the trapezoid rule over the
frames between them), which is what the velocity-supervision loss compares PoseNet's
translation with. Over a frame interval the path is practically straight, so the distance
travelled is the length of the camera's translation.
"""

import numpy as np


def travelled_distances(speeds, stamps, target, offsets):
    """
    Return the distance travelled between frame ``target`` and each frame ``target + o``.

    :param speeds: F float speeds in m/s (magnitudes; NaN unknown), or None: none recorded.
    :param stamps: F float capture times in seconds, or None: unknown.
    :param target: the target frame index.
    :param offsets: S source frame offsets.
    :return: S float32 metres; NaN where a speed or stamp on the way is unknown.
    """
    distances = np.full(len(offsets), np.nan, dtype=np.float32)
    if speeds is None or stamps is None:
        return distances
    for number, offset in enumerate(offsets):
        first, last = sorted((target, target + offset))
        segment = slice(first, last + 1)
        distances[number] = np.trapezoid(np.abs(speeds[segment]), stamps[segment])
    return distances


def speeds_at(times, speeds, at, max_gap):
    """
    Interpolate speed measurements linearly at other times, NaN where they do not reach.

    :param times: M int64 times of the measurements (any order; repeated times count once).
    :param speeds: M float speeds (m/s).
    :param at: N int64 times to interpolate at, in the unit of ``times``.
    :param max_gap: longest interval between two measurements to interpolate across.
    :return: N float64 m/s; NaN before the first and after the last measurement, and strictly
        between two measurements more than ``max_gap`` apart.
    """
    times, first = np.unique(np.asarray(times, dtype=np.int64), return_index=True)
    speeds = np.asarray(speeds, dtype=np.float64)[first]
    at = np.asarray(at, dtype=np.int64)
    # Relative to the first measurement, int64 nanoseconds convert to float64 exactly.
    values = np.interp((at - times[0]).astype(np.float64),
                       (times - times[0]).astype(np.float64), speeds,
                       left=np.nan, right=np.nan)
    if len(times) > 1:
        after = np.searchsorted(times, at).clip(1, len(times) - 1)
        across = (times[after] - times[after - 1] > max_gap) & ~np.isin(at, times)
        values[across] = np.nan
    return values
