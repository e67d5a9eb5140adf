"""
What the camera stream itself looks like, from the stamps of every frame that arrives.

The node processes only the newest frame when it is slower than the camera, so the interval
between processed frames says nothing about the camera. :class:`InputStream` sees every
arriving stamp (the subscription callback adds them) and answers two questions:

- the longest interval between consecutive camera frames up to a processed frame
  (:meth:`InputStream.longest_gap_until`): the odometry's gap rule uses it, so a slow node
  keeps tracking while the camera streams steadily;
- how many frames were lost before they reached the node (:attr:`InputStream.lost`): an
  interval of about k camera periods means k - 1 frames missing, typically large images lost
  in DDS fragments (see docs/ros.md, "Large images: transport"). The period is the median of
  the recent intervals, so a camera's own rate needs no configuration.

Thread-safe: one thread adds stamps while another asks.
"""

from collections import deque
import threading

import numpy as np

PERIOD_WINDOW = 50
"""Recent intervals the camera period is the median of."""

MIN_INTERVALS = 5
"""Intervals needed before a period (and so losses) is estimated."""

LOSS_FACTOR = 1.5
"""An interval longer than this many periods counts the frames it misses as lost."""

PENDING_LIMIT = 10000
"""Intervals kept for :meth:`InputStream.longest_gap_until` (older ones are forgotten)."""


class InputStream:
    """Camera period, upstream losses and gaps from the stamps of the arriving frames."""

    def __init__(self):
        """Start without a frame."""
        self._lock = threading.Lock()
        self._last = None
        self._intervals = deque(maxlen=PERIOD_WINDOW)
        self._pending = deque(maxlen=PENDING_LIMIT)
        self.lost = 0
        """Frames missing between arrived ones since start (an estimate, see the module)."""

    def add(self, stamp_ns):
        """
        Record an arriving frame's stamp (integer nanoseconds).

        A stamp that is not later than the previous one (a bag that loops, a repeated frame)
        starts the history afresh; the odometry handles that case itself.
        """
        with self._lock:
            last, self._last = self._last, stamp_ns
            if last is None or stamp_ns <= last:
                self._intervals.clear()
                self._pending.clear()
                return
            interval = (stamp_ns - last) * 1e-9
            period = self._period()
            if period is not None and interval > LOSS_FACTOR * period:
                self.lost += int(round(interval / period)) - 1
            self._intervals.append(interval)
            self._pending.append((stamp_ns, interval))

    def _period(self):
        """Median recent interval (s), or None while too few are known (lock held)."""
        if len(self._intervals) < MIN_INTERVALS:
            return None
        return float(np.median(self._intervals))

    def period(self):
        """Return the camera's frame interval (s), or None until enough frames arrived."""
        with self._lock:
            return self._period()

    def longest_gap_until(self, stamp_ns):
        """
        Return the longest interval (s) between consecutive frames up to ``stamp_ns``.

        Intervals ending at or before ``stamp_ns`` are consumed; those after it wait for the
        next call. Returns None when none is known (first frame, or after a restart), which
        lets the odometry fall back to the interval between processed frames.
        """
        longest = None
        with self._lock:
            while self._pending and self._pending[0][0] <= stamp_ns:
                interval = self._pending.popleft()[1]
                longest = interval if longest is None else max(longest, interval)
        return longest
