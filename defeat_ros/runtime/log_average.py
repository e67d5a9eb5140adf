"""
A metric scale smoothed over time: a gated exponential moving average of log measurements.

Both run-time sources of metric scale (:mod:`~defeat_ros.runtime.ground_scale`, the road plane
at the camera's height; :mod:`~defeat_ros.runtime.speed_scale`, the vehicle's speed) measure,
once per frame, how many model units one metre is. :class:`LogAverage` smooths the log of that
measurement: a measurement further than ``gate`` (log units) from the average is rejected as
an outlier, unless ``patience`` consecutive rejected ones agree among themselves (the camera or
the scene changed), which restarts the average from them.
"""

import math

import numpy as np


class LogAverage:
    """Smoothed log measurements (see the module docstring); empty until the first one."""

    def __init__(self, alpha=0.2, gate=0.2, patience=5):
        """
        Set the smoothing.

        :param alpha: weight of a new measurement in the moving average of the logs.
        :param gate: largest accepted |log measurement - log average| (0.2: about 22 %).
        :param patience: consecutive agreeing outliers that restart the average.
        """
        if not 0.0 < alpha <= 1.0 or gate <= 0.0 or patience < 1:
            raise ValueError(f'need 0 < alpha <= 1, gate > 0 and patience >= 1, got {alpha}, '
                             f'{gate}, {patience}')
        self.alpha = alpha
        self.gate = gate
        self.patience = patience
        self.reset()

    def reset(self):
        """Forget the average and the pending outliers."""
        self.value = None
        """The average of the logs; None before the first accepted measurement."""
        self.outliers = []

    def mean(self, default=1.0):
        """Return exp(average), ``default`` before the first accepted measurement."""
        return default if self.value is None else math.exp(self.value)

    def add(self, log_value):
        """Enter one log measurement; return whether it was accepted."""
        if self.value is None:
            self.value = log_value
        elif abs(log_value - self.value) <= self.gate:
            self.value += self.alpha * (log_value - self.value)
        else:
            return self.reject(log_value)
        self.outliers = []
        return True

    def reject(self, log_value):
        """Hold an outlier back; ``patience`` agreeing ones restart the average (True then)."""
        self.outliers = (self.outliers + [log_value])[-self.patience:]
        if len(self.outliers) == self.patience and np.ptp(self.outliers) <= self.gate:
            self.value = float(np.median(self.outliers))
            self.outliers = []
            return True
        return False
