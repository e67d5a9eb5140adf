"""
Metric scale from the vehicle's speed: each step's length is the distance the vehicle travelled.

The vehicle's speed (wheel odometry, CAN, INS) integrated over the time between two frames is
how far it moved, in metres, whatever the depth network believes. In ``scale_mode`` 'speed'
(:class:`~defeat_ros.runtime.perception.Perception`), each relative pose keeps its rotation and
the direction of its translation, and the translation's length becomes that distance. The
speed is the base frame's: a camera mounted off the axle the speed refers to moves a few
percent more or less while the vehicle turns, which this ignores.

The ratio of the network's step length to the distance measures how many model units one
metre is. Steps of at least :data:`MIN_STEP_M` enter a
:class:`~defeat_ros.runtime.log_average.LogAverage` of that ratio, and its inverse
(:attr:`SpeedScale.scale`) multiplies the depth, which makes the depth metric too. A step
without a known distance (no speed measurement reaches it) keeps the network's length times
that scale. Before the first measured step the scale is 1 (model units).
"""

import math

from defeat_ros.runtime.log_average import LogAverage
import numpy as np

MIN_STEP_M = 0.05
"""Shortest step (m) whose length enters the depth's scale: shorter ones (0.5 m/s at 10 Hz)
are mostly the network's noise."""


class SpeedScale:
    """One camera's steps scaled to the distance travelled (see the module docstring)."""

    def __init__(self, alpha=0.2, gate=0.2, patience=5):
        """Start without a measured step; the smoothing is :class:`LogAverage`'s."""
        self.units_per_metre = LogAverage(alpha, gate, patience)

    def reset(self):
        """Forget the average (the scale returns to 1)."""
        self.units_per_metre.reset()

    @property
    def scale(self):
        """Metres per model unit of the depth (1 before any measured step)."""
        return 1.0 / self.units_per_metre.mean()

    def update(self, translation, travelled):
        """
        Take one step: update the average and return the factor for its translation.

        :param translation: 3 float, the network's (refined) translation in model units.
        :param travelled: metres travelled during the step; NaN when unknown.
        :return: (factor that makes ``translation`` metric, whether the distance set it).
        """
        length = float(np.linalg.norm(translation))
        if not math.isfinite(travelled):
            return self.scale, False
        if travelled >= MIN_STEP_M and length > 0.0:
            self.units_per_metre.add(math.log(length / travelled))
        return (travelled / length if length > 0.0 else 0.0), True
