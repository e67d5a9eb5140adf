"""
Visual odometry: chain relative camera motions into a REP-105 ``odom -> base`` trajectory.

Perception reports ``T_previous_current`` between consecutive processed frames in the camera's
optical axes (x right, y down, z forward). The chain turns each step into the motion of the
vehicle carrying the camera (:func:`~defeat_ros.geometry.camera_to_base`, with the camera's
mount ``T_base_optical``: :func:`~defeat_ros.geometry.mount_pose`) and composes
``T_odom_base(k) = T_odom_base(k-1) @ step``; twists are in the base frame (REP-103 axes: x
forward, y left, z up). No ROS is needed here.

Tracking restarts (:meth:`OdometryChain.reset_reason`) when
- the first frame arrives, or time runs backwards (a bag loops): the pose restarts at the
  identity, a new ``odom`` origin;
- the stamp repeats, the image size changes, or the camera stream had a gap longer than
  ``max_gap_s``: the motion in between is unknown, so the pose is held where it was. The gap is
  the longest interval between consecutive *input* frames since the previous processed frame
  when the caller knows it (the node does: a node that is too slow for the camera skips frames
  but keeps tracking), else the interval between the processed frames.

Covariances (6 x 6, diagonal, x y z then rotations about x y z; m^2 and rad^2):
- a frame that restarts tracking has no motion estimate: its twist covariance is
  :data:`LOST_VARIANCE` (1e6, a standard deviation of 1 km / 1000 rad, i.e. unknown); the pose
  of a new origin is the identity by definition, with zero covariance;
- a held restart adds the motion the chain could not see: the last tracked speed, times
  :data:`GAP_SPEED_MARGIN`, over the time between the frames, as a standard deviation per axis
  (and likewise for the rotation rate). The pose covariance stays finite, so consumers that
  weigh the odometry by it go on using it after a gap;
- each tracked step adds a variance to the pose (drift accumulates) and sets the twist
  covariance to that step's variance over dt^2. The step's translation standard deviation is
  :data:`STEP_TRANSLATION_FRACTION` (5 %) of its length plus :data:`STEP_TRANSLATION_FLOOR`
  (1 cm); its rotation standard deviation is :data:`STEP_ROTATION_SIGMA` (0.005 rad, 0.29
  degrees). These are nominal values of the order of the drift of self-supervised monocular
  pose networks; they are not calibrated for a particular model.
"""

from dataclasses import dataclass

from defeat_ros.geometry import camera_to_base, matrix_to_axis_angle, mount_pose
import numpy as np

LOST_VARIANCE = 1e6
"""Variance (m^2, rad^2) of a quantity the chain does not know."""

STEP_TRANSLATION_FRACTION = 0.05
"""Standard deviation of a step's translation, as a fraction of the step's length."""

STEP_TRANSLATION_FLOOR = 0.01
"""Standard deviation (m) added to every step's translation."""

STEP_ROTATION_SIGMA = 0.005
"""Standard deviation (rad) of a step's rotation about each axis."""

GAP_SPEED_MARGIN = 2.0
"""How many times the last tracked speed the vehicle may have moved at while unseen."""


@dataclass
class OdometryEstimate:
    """The chain's state after one frame."""

    t_odom_base: np.ndarray
    """4 x 4 float64 pose of the base frame in ``odom``."""
    linear: np.ndarray
    """3 linear velocity (m/s) in the base frame."""
    angular: np.ndarray
    """3 angular velocity (rad/s) in the base frame."""
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

    def __init__(self, max_gap_s=0.5, t_base_optical=None):
        """
        Start without a frame.

        :param max_gap_s: the longest gap (s) in the camera stream that keeps tracking.
        :param t_base_optical: 4 x 4 mount of the camera (:func:`~defeat_ros.geometry.mount_pose`);
            None: the base frame is the camera's body frame.
        """
        self.max_gap_s = max_gap_s
        self.t_base_optical = mount_pose() if t_base_optical is None else t_base_optical
        self.t_odom_base = np.eye(4)
        self.stamp_ns = None
        self.size = None
        self.pose_variance = np.zeros(6)
        self.speeds = None
        """(linear, angular) speed of the last tracked step; None before one since the origin."""

    def reset_reason(self, stamp_ns, size, input_gap_s=None):
        """
        Say why a frame must restart tracking, or return '' when it continues the chain.

        :param stamp_ns: the frame's stamp in integer nanoseconds.
        :param size: the frame's (height, width).
        :param input_gap_s: the longest interval (s) between consecutive camera frames since
            the previous processed frame; None: the interval between the processed frames.
        """
        if self.stamp_ns is None:
            return 'first frame'
        if stamp_ns < self.stamp_ns:
            return f'time jumped backwards by {(self.stamp_ns - stamp_ns) * 1e-9:.3f} s'
        if stamp_ns == self.stamp_ns:
            return 'repeated stamp'
        if tuple(size) != self.size:
            return f'image size changed from {self.size} to {tuple(size)}'
        gap = (stamp_ns - self.stamp_ns) * 1e-9 if input_gap_s is None else input_gap_s
        if gap > self.max_gap_s:
            return (f'gap of {gap:.3f} s in the camera stream (max_gap_s is '
                    f'{self.max_gap_s} s)')
        return ''

    def update(self, stamp_ns, size, t_previous_current, input_gap_s=None):
        """
        Add one frame.

        :param stamp_ns: the frame's stamp in integer nanoseconds.
        :param size: the frame's (height, width).
        :param t_previous_current: 4 x 4 optical-frame motion from Perception, or None when it
            has none (no previous frame). It is ignored when :meth:`reset_reason` is not ''.
        :param input_gap_s: see :meth:`reset_reason`.
        :return: OdometryEstimate.
        """
        reason = self.reset_reason(stamp_ns, size, input_gap_s)
        if not reason and t_previous_current is None:
            reason = 'no relative motion for this frame'
        if reason:
            return self._restart(stamp_ns, size, reason)
        dt = (stamp_ns - self.stamp_ns) * 1e-9
        step = camera_to_base(t_previous_current, self.t_base_optical)
        self.t_odom_base = self.t_odom_base @ step
        self.stamp_ns = stamp_ns
        rotation = step[:3, :3]
        linear = rotation.T @ step[:3, 3] / dt
        axis_angle = matrix_to_axis_angle(rotation[None])[0]
        angular = axis_angle / dt
        self.speeds = (float(np.linalg.norm(linear)), float(np.linalg.norm(angular)))
        translation_sigma = (STEP_TRANSLATION_FRACTION * np.linalg.norm(step[:3, 3])
                             + STEP_TRANSLATION_FLOOR)
        step_variance = np.array([translation_sigma ** 2] * 3 + [STEP_ROTATION_SIGMA ** 2] * 3)
        self.pose_variance = self.pose_variance + step_variance
        return OdometryEstimate(self.t_odom_base.copy(), linear, angular,
                                np.diag(self.pose_variance), np.diag(step_variance / dt ** 2),
                                True)

    def _restart(self, stamp_ns, size, reason):
        """Restart tracking on this frame: a new origin, or the pose held (module docstring)."""
        new_origin = (self.stamp_ns is None or stamp_ns < self.stamp_ns
                      or self.speeds is None)
        if new_origin:
            self.t_odom_base = np.eye(4)
            self.pose_variance = np.zeros(6)
            self.speeds = None
        else:
            unseen = (stamp_ns - self.stamp_ns) * 1e-9
            linear, angular = self.speeds
            translation_sigma = GAP_SPEED_MARGIN * linear * unseen + STEP_TRANSLATION_FLOOR
            rotation_sigma = GAP_SPEED_MARGIN * angular * unseen + STEP_ROTATION_SIGMA
            self.pose_variance = self.pose_variance + np.array(
                [translation_sigma ** 2] * 3 + [rotation_sigma ** 2] * 3)
        self.stamp_ns, self.size = stamp_ns, tuple(size)
        return OdometryEstimate(self.t_odom_base.copy(), np.zeros(3), np.zeros(3),
                                np.diag(self.pose_variance),
                                np.diag(np.full(6, LOST_VARIANCE)), False, reason)
