"""
Metric scale from the camera's mounting height: a ground plane fitted to predicted depth.

A monocular network predicts depth and motion up to one factor. The road is a plane at a known
distance below the camera (its mounting height), so the plane's distance in the model's units
gives the factor ``scale = camera_height / estimated_height`` that makes depth and the
translation of relative poses metric.

Per frame, the plane is fitted as :mod:`defeat_ros.ground_plane` says (RANSAC over the bottom
rows of the depth map, refined by least squares on its inliers).

Over time (:class:`GroundScale`): the log of the estimated height is smoothed by a gated
moving average (:class:`~defeat_ros.runtime.log_average.LogAverage`: outliers rejected unless
they persist). Frames without a plane keep the last scale; before the first plane the scale is
1 (model units).
"""

from dataclasses import dataclass
import math

from defeat_ros.ground_plane import fit_ground_plane, ground_points
from defeat_ros.runtime.log_average import LogAverage


@dataclass(frozen=True)
class ScaleEstimate:
    """The smoothed scale after one frame."""

    scale: float
    """Metres per model unit (the last one when this frame gave no plane; 1 before any)."""
    confidence: float
    """Inlier ratio of this frame's plane; 0 when none was found."""
    height: float
    """This frame's camera height in model units; NaN when no plane was found."""
    accepted: bool
    """Whether this frame's measurement entered the average (False: none, or an outlier)."""


class GroundScale:
    """
    Smoothed metric scale of one camera's predicted depth (see the module docstring).

    Call :meth:`update` once per frame; :meth:`reset` forgets the average. ``heights`` is the
    :class:`~defeat_ros.runtime.log_average.LogAverage` of the camera height in model units.
    """

    def __init__(self, camera_height=1.65, rows=0.4, alpha=0.2, gate=0.2, patience=5,
                 **fit_options):
        """
        Set the known mounting height and the smoothing.

        :param camera_height: height of the camera centre above the ground, metres.
        :param rows: bottom fraction of the image searched for the ground.
        :param alpha, gate, patience: the smoothing of the log height (see
            :class:`~defeat_ros.runtime.log_average.LogAverage`).
        :param fit_options: options of :func:`fit_ground_plane`.
        """
        self.camera_height = camera_height
        self.rows = rows
        self.heights = LogAverage(alpha, gate, patience)
        self.fit_options = fit_options

    @property
    def camera_height(self):
        """Known height of the camera above the ground, metres."""
        return self._camera_height

    @camera_height.setter
    def camera_height(self, value):
        if not (math.isfinite(value) and value > 0.0):
            raise ValueError(f'camera_height must be a positive number of metres, got {value}')
        self._camera_height = float(value)

    def reset(self):
        """Forget the average and the pending outliers (the scale returns to 1)."""
        self.heights.reset()

    @property
    def scale(self):
        """Metres per model unit of the current average (1 before any plane)."""
        return self.camera_height / self.heights.mean(self.camera_height)

    def update(self, depth, k_norm):
        """
        Fit the ground in one frame's depth and update the average: a ScaleEstimate.

        :param depth: H x W predicted depth (model units), tensor or array.
        :param k_norm: 3 x 3 normalised intrinsics of the image.
        """
        plane = fit_ground_plane(ground_points(depth, k_norm, self.rows), **self.fit_options)
        if plane is None:
            return ScaleEstimate(self.scale, 0.0, math.nan, False)
        accepted = self.heights.add(math.log(plane.height))
        return ScaleEstimate(self.scale, plane.inlier_ratio, plane.height, accepted)
