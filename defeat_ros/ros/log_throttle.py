"""Log lines throttled per kind of problem, so one noisy error cannot hide another."""

import threading
import time


class LogThrottle:
    """
    Let at most one line per kind through per period, and say how many were held back.

    rclpy's own ``throttle_duration_sec`` throttles per call site: every error logged from the
    same line shares one budget, so a frequent error hides a rare one, and odometry resets
    disappear behind frame errors. Here each kind has its own budget.
    """

    def __init__(self, period_s):
        """Allow one line per kind every ``period_s`` seconds (monotonic time)."""
        self.period_s = period_s
        self._lock = threading.Lock()
        self._last = {}
        self._held = {}

    def __call__(self, kind, message, log):
        """
        Log ``message`` with ``log`` unless a line of ``kind`` went out within the period.

        :return: whether it was logged.
        """
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.period_s:
                self._held[kind] = self._held.get(kind, 0) + 1
                return False
            self._last[kind] = now
            held = self._held.pop(kind, 0)
        if held:
            message += f' ({held} more like this since the last such line)'
        log(message)
        return True
