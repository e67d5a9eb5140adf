"""
The vehicle's recent speed, as a live speed topic reports it, looked up at camera frame times.

The node keeps the last :data:`KEPT` measurements of its ``speed_topic`` and interpolates them
linearly at each frame's stamp (:func:`~defeat_ros.data.travel.speeds_at`, the same rule as
for recorded bags): a frame outside the measurements, or between two more than ``max_gap_s``
apart, has no speed (NaN).

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

    def __init__(self, max_gap_s=0.5):
        """Keep up to :data:`KEPT` measurements; interpolate across gaps up to ``max_gap_s``."""
        self.max_gap_ns = int(max_gap_s * 1e9)
        self._measurements = deque(maxlen=KEPT)
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
