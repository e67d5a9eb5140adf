"""
The vehicle's recent speed, as a live speed topic reports it, looked up at camera frame times.

The node keeps the last :data:`KEPT` measurements of its ``speed_topic`` and interpolates them
linearly at each frame's stamp (:func:`~defeat_ros.data.travel.speeds_at`, the same rule as
for recorded bags): a frame outside the measurements, or between two more than ``max_gap_s``
apart, has no speed (NaN). :meth:`SpeedHistory.travelled` integrates them between two frames
(the distance of one odometry step, for ``scale_mode`` speed); a frame up to ``max_gap_s``
newer than the newest measurement holds that measurement's speed, so live odometry does not
wait for the wheel.

A camera frame usually arrives before the speed measurement after its stamp (the two topics
come from different drivers), and a frame after the newest measurement has no speed yet.
:class:`AwaitSpeed` holds frames until the measurements reach their stamps, or until the stream
has moved ``max_wait_s`` past them, so that every frame that can have a speed gets it.
"""

from collections import deque
import math
import threading

from defeat_ros.data.travel import speeds_at
import numpy as np

KEPT = 500
"""Measurements kept: 10 s of a 50 Hz wheel odometry."""


class SpeedHistory:
    """Recent (time, speed) measurements; thread-safe (the speed and image callbacks differ)."""

    def __init__(self, max_gap_s=0.5, kept=KEPT):
        """Keep up to ``kept`` measurements (None: all); interpolate across ``max_gap_s``."""
        self.max_gap_ns = int(max_gap_s * 1e9)
        self._measurements = deque(maxlen=kept)
        self._lock = threading.Lock()

    def add(self, stamp_ns, speed):
        """Record the speed (m/s) measured at ``stamp_ns``; non-finite ones are ignored."""
        if math.isfinite(speed):
            with self._lock:
                self._measurements.append((int(stamp_ns), float(speed)))

    def newest_ns(self):
        """Return the stamp of the newest measurement (ns), None before the first one."""
        with self._lock:
            return max(t for t, _ in self._measurements) if self._measurements else None

    def at(self, stamp_ns):
        """Return the speed (m/s) at ``stamp_ns``, NaN where the measurements do not reach."""
        with self._lock:
            if not self._measurements:
                return math.nan
            times, speeds = zip(*self._measurements)
        return float(speeds_at(np.array(times), np.array(speeds), np.array([int(stamp_ns)]),
                               self.max_gap_ns)[0])

    def travelled(self, start_ns, end_ns):
        """
        Return the distance (m) travelled from ``start_ns`` to ``end_ns`` (start < end).

        The speed interpolated linearly between the measurements, integrated by the trapezoid
        rule; NaN where the measurements do not cover the interval or leave a gap longer than
        ``max_gap_s`` in it. An ``end_ns`` up to ``max_gap_s`` after the newest measurement
        holds its speed.
        """
        with self._lock:
            if not self._measurements:
                return math.nan
            times, first = np.unique(np.array([t for t, _ in self._measurements], np.int64),
                                     return_index=True)
            speeds = np.abs(np.array([s for _, s in self._measurements]))[first]
        if times[-1] < end_ns <= times[-1] + self.max_gap_ns:
            times, speeds = np.append(times, end_ns), np.append(speeds, speeds[-1])
        before = np.searchsorted(times, start_ns, 'right') - 1
        after = np.searchsorted(times, end_ns, 'left')
        if before < 0 or after >= len(times) or \
                np.any(np.diff(times[before:after + 1]) > self.max_gap_ns):
            return math.nan
        # Relative to the first measurement, int64 nanoseconds convert to float64 exactly.
        knots = np.concatenate([[start_ns], times[before + 1:after], [end_ns]]) - times[0]
        values = np.interp(knots.astype(np.float64), (times - times[0]).astype(np.float64),
                           speeds)
        return float(np.trapezoid(values, knots * 1e-9))


class AwaitSpeed:
    """
    Frames held until ``history`` can give their speed (module doc); in order, bounded in time.

    :param history: the :class:`SpeedHistory` the speed topic fills.
    :param max_wait_s: stream time (frame stamps) a frame waits at most; then its speed is
        looked up as it is (NaN where the measurements do not reach).
    """

    def __init__(self, history, max_wait_s=0.5):
        """Hold nothing yet."""
        self.history = history
        self.max_wait_ns = int(max_wait_s * 1e9)
        self._held = deque()

    def __len__(self):
        """Return the number of frames held."""
        return len(self._held)

    def add(self, stamp_ns, item):
        """
        Hold ``item`` (a frame of ``stamp_ns``); release what is ready.

        :return: [(item, stamp_ns, speed m/s or NaN)] of the released frames, oldest first.
        """
        self._held.append((int(stamp_ns), item))
        newest = self.history.newest_ns()
        released = []
        while self._held:
            stamp, held = self._held[0]
            reached = newest is not None and newest >= stamp
            if not reached and int(stamp_ns) - stamp < self.max_wait_ns:
                break
            self._held.popleft()
            released.append((held, stamp, self.history.at(stamp)))
        return released

    def flush(self):
        """Release every held frame now (a stream break): [(item, stamp_ns, speed)]."""
        released = [(item, stamp, self.history.at(stamp)) for stamp, item in self._held]
        self._held.clear()
        return released
