"""
Visual odometry: chain relative camera motions into a REP-105 ``odom -> base`` trajectory.

Perception reports ``T_previous_current`` between consecutive processed frames in the camera's
optical axes (x right, y down, z forward). The chain converts each step to REP-103 body axes
(x forward, y left, z up) with the fixed optical/body rotation and composes
``T_odom_base(k) = T_odom_base(k-1) @ step``; ``base`` is the body frame at the camera.
No ROS is needed here.

Tracking restarts (:meth:`OdometryChain.reset_reason`) when
- the first frame arrives, or time runs backwards (a bag loops): the pose restarts at the
  identity, a new ``odom`` origin;
- the stamp repeats, the image size changes or consecutive frames are more than ``max_gap_s``
  apart: the motion in between is unknown, so the pose is held where it was.

Covariances (6 x 6, diagonal, x y z then rotations about x y z; m^2 and rad^2):
- a frame that restarts tracking has no motion estimate: pose and twist covariances are
  :data:`LOST_VARIANCE` (1e6, a standard deviation of 1 km / 1000 rad, i.e. unknown);
- after a restart that held the pose (gap, size change), the pose covariance keeps
  :data:`LOST_VARIANCE` until the next new origin, because the pose missed an unknown motion;
- each tracked step adds a variance to the pose (drift accumulates) and sets the twist
  covariance to that step's variance over dt^2. The step's translation standard deviation is
  :data:`STEP_TRANSLATION_FRACTION` (5 %) of its length plus :data:`STEP_TRANSLATION_FLOOR`
  (1 cm); its rotation standard deviation is :data:`STEP_ROTATION_SIGMA` (0.005 rad, 0.29
  degrees). These are nominal values of the order of the drift of self-supervised monocular
  pose networks; they are not calibrated for a particular model.
"""

from dataclasses import dataclass

from defeat_ros.geometry import matrix_to_axis_angle, optical_to_body
import numpy as np
import torch

LOST_VARIANCE = 1e6
"""Variance (m^2, rad^2) of a quantity the chain does not know."""

STEP_TRANSLATION_FRACTION = 0.05
"""Standard deviation of a step's translation, as a fraction of the step's length."""

STEP_TRANSLATION_FLOOR = 0.01
"""Standard deviation (m) added to every step's translation."""

STEP_ROTATION_SIGMA = 0.005
"""Standard deviation (rad) of a step's rotation about each axis."""


@dataclass
class OdometryEstimate:
    """The chain's state after one frame."""

    t_odom_base: np.ndarray
    """4 x 4 float64 pose of the body frame in ``odom``."""
    linear: np.ndarray
    """3 linear velocity (m/s) in the body frame."""
    angular: np.ndarray
    """3 angular velocity (rad/s) in the body frame."""
    pose_covariance: np.ndarray
    """6 x 6 covariance of the pose."""
    twist_covariance: np.ndarray
    """6 x 6 covariance of the twist."""
    tracking: bool
    """False on a frame that (re)started tracking: the twist is unknown."""
    reset_reason: str = ''
    """Why tracking restarted on this frame ('' while tracking)."""


class OdometryChain:
    """Integrates relative motions of one camera; reset rules in the module docstring."""

    def __init__(self, max_gap_s=0.5):
        """Start without a frame; ``max_gap_s`` (s) is the longest gap that keeps tracking."""
        self.max_gap_s = max_gap_s
        self.t_odom_base = np.eye(4)
        self.stamp_ns = None
        self.size = None
        self.pose_variance = np.zeros(6)

    def reset_reason(self, stamp_ns, size):
        """
        Say why a frame must restart tracking, or return '' when it continues the chain.

        :param stamp_ns: the frame's stamp in integer nanoseconds.
        :param size: the frame's (height, width).
        """
        if self.stamp_ns is None:
            return 'first frame'
        if stamp_ns < self.stamp_ns:
            return f'time jumped backwards by {(self.stamp_ns - stamp_ns) * 1e-9:.3f} s'
        if stamp_ns == self.stamp_ns:
            return 'repeated stamp'
        if tuple(size) != self.size:
            return f'image size changed from {self.size} to {tuple(size)}'
        gap = (stamp_ns - self.stamp_ns) * 1e-9
        if gap > self.max_gap_s:
            return f'gap of {gap:.3f} s between frames (max_gap_s is {self.max_gap_s} s)'
        return ''

    def update(self, stamp_ns, size, t_previous_current):
        """
        Add one frame.

        :param stamp_ns: the frame's stamp in integer nanoseconds.
        :param size: the frame's (height, width).
        :param t_previous_current: 4 x 4 optical-frame motion from Perception, or None when it
            has none (no previous frame). It is ignored when :meth:`reset_reason` is not ''.
        :return: OdometryEstimate.
        """
        reason = self.reset_reason(stamp_ns, size)
        if not reason and t_previous_current is None:
            reason = 'no relative motion for this frame'
        if reason:
            new_origin = self.stamp_ns is None or stamp_ns < self.stamp_ns
            if new_origin:
                self.t_odom_base = np.eye(4)
                self.pose_variance = np.zeros(6)
            else:
                self.pose_variance = np.maximum(self.pose_variance, LOST_VARIANCE)
            self.stamp_ns, self.size = stamp_ns, tuple(size)
            lost = np.diag(np.full(6, LOST_VARIANCE))
            return OdometryEstimate(self.t_odom_base.copy(), np.zeros(3), np.zeros(3), lost,
                                    lost.copy(), False, reason)
        dt = (stamp_ns - self.stamp_ns) * 1e-9
        step = optical_to_body(t_previous_current)
        self.t_odom_base = self.t_odom_base @ step
        self.stamp_ns = stamp_ns
        rotation = step[:3, :3]
        linear = rotation.T @ step[:3, 3] / dt
        axis_angle = matrix_to_axis_angle(torch.from_numpy(rotation.copy())[None])[0]
        angular = axis_angle.numpy() / dt
        translation_sigma = (STEP_TRANSLATION_FRACTION * np.linalg.norm(step[:3, 3])
                             + STEP_TRANSLATION_FLOOR)
        step_variance = np.array([translation_sigma ** 2] * 3 + [STEP_ROTATION_SIGMA ** 2] * 3)
        self.pose_variance = self.pose_variance + step_variance
        return OdometryEstimate(self.t_odom_base.copy(), linear, angular,
                                np.diag(self.pose_variance), np.diag(step_variance / dt ** 2),
                                True)
