"""
The vehicle's recent speed, as a live speed topic reports it, looked up at camera frame times.

The node keeps the last :data:`KEPT` measurements of its ``speed_topic`` and interpolates them
linearly at each frame's stamp (:func:`~defeat_ros.data.travel.speeds_at`, the same rule as
for recorded bags): a frame outside the measurements, or between two more than ``max_gap_s``
apart, has no speed (NaN).
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

    def at(self, stamp_ns):
        """Return the speed (m/s) at ``stamp_ns``, NaN where the measurements do not reach."""
        with self._lock:
            if not self._measurements:
                return math.nan
            times, speeds = zip(*self._measurements)
        return float(speeds_at(np.array(times), np.array(speeds), np.array([int(stamp_ns)]),
                               self.max_gap_ns)[0])
