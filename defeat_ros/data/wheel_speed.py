"""
A simulated wheel odometry along a FrameSequence's ground truth, as a vehicle records it.

What the vehicle's odometry (wheel encoders and a yaw-rate sensor) would report while the camera
drives the sequence: samples at a rate of their own (``rate``, default 50 Hz) at a phase against
the frames drawn from the seed, so they fall between the frames; the forward speed with a scale
error (tyres off their nominal radius: measured = (1 + ``scale_error``) x true) and Gaussian
noise; the yaw rate with Gaussian noise; and a planar pose dead-reckoned from both. The truth is
the camera's body-frame motion (:mod:`defeat_ros.data.body_motion`): the velocity between
consecutive frames, placed at the middle of their interval and interpolated linearly at the
samples (held before the first middle and after the last). The body frame is at the camera, as
in the ground-truth odometry. Same sequence and config, same measurements.

:func:`simulate_wheel_odometry` returns every sample (the bag writer records them);
:func:`wheel_speeds_at` the measured speed interpolated at given times, as the bag reader
interpolates it at the frames (the in-memory synthetic dataset uses it).
"""

from dataclasses import dataclass

from defeat_ros.data.body_motion import body_trajectory, body_twists
from defeat_ros.typed_config import TypedConfig
import numpy as np


UNMEASURED_VARIANCE = 1e6
"""Variance reported for what planar odometry does not measure (z, roll, pitch and their rates)."""


@dataclass
class WheelOdometryConfig(TypedConfig):
    """The simulated sensor: its rate, its errors and its seed."""

    rate: float = 50.0
    """Samples per second (Hz), on a clock of their own (not synchronised with the camera)."""
    scale_error: float = 0.01
    """Relative error of the measured speed (0.01: 1 % fast, as tyres smaller than assumed)."""
    speed_noise: float = 0.03
    """Standard deviation of the Gaussian noise of each speed sample (m/s)."""
    yaw_rate_noise: float = 0.005
    """Standard deviation of the Gaussian noise of each yaw-rate sample (rad/s)."""
    seed: int = 0
    """Seed of the noise and of the samples' phase against the frames."""

    def __post_init__(self):
        """Reject settings no sensor has."""
        if self.rate <= 0:
            raise ValueError(f'rate must be positive, got {self.rate}')
        if self.scale_error <= -1:
            raise ValueError(f'scale_error must be above -1, got {self.scale_error}')
        if self.speed_noise < 0 or self.yaw_rate_noise < 0:
            raise ValueError(f'noise must be >= 0, got speed_noise {self.speed_noise}, '
                             f'yaw_rate_noise {self.yaw_rate_noise}')


@dataclass
class WheelOdometry:
    """N samples of a simulated wheel odometry, timed on the sequence's clock."""

    stamps: np.ndarray
    """N float64 seconds, 1 / rate apart: the first at most a period before the first frame,
    the last at most a period after the last frame."""
    speeds: np.ndarray
    """N float64 measured forward speeds (m/s)."""
    yaw_rates: np.ndarray
    """N float64 measured yaw rates about the body z axis (rad/s, positive turning left)."""
    poses: np.ndarray
    """N x 4 x 4 float64 ``T_odom_base`` dead-reckoned in the plane (trapezoid rule); ``odom``
    is the body frame at the first sample."""
    pose_covariances: np.ndarray
    """N x 6 x 6 float64 (x, y, z, roll, pitch, yaw) as reported: x and y from the speed noise
    integrated plus the scale error over the distance travelled, yaw from the yaw-rate noise
    integrated; :data:`UNMEASURED_VARIANCE` for z, roll and pitch."""
    twist_covariance: np.ndarray
    """6 x 6 float64 of every sample's twist: the speed noise on the forward and the lateral
    velocity (a car does not slide), the yaw-rate noise on the yaw rate, and
    :data:`UNMEASURED_VARIANCE` for the others."""


def true_motion_at(sequence, times):
    """
    Return the camera's true forward speed and yaw rate at ``times``.

    :param sequence: a :class:`~defeat_ros.data.frame_sequence.FrameSequence` of F frames.
    :param times: N float seconds on the sequence's clock.
    :return: (N float64 forward speeds in m/s, N float64 yaw rates in rad/s), interpolated
        between the middles of the frame intervals (see the module docstring); zeros for a
        single frame.
    """
    stamps = sequence.stamps.detach().double().cpu().numpy()
    linear, angular = body_twists(body_trajectory(sequence.poses), sequence.stamps)
    # body_twists gives frame i > 0 the mean velocity of the interval before it.
    first = min(1, len(stamps) - 1)
    middles = (stamps[:-1] + stamps[1:]) / 2 if len(stamps) > 1 else stamps
    return (np.interp(times, middles, linear[first:, 0].numpy()),
            np.interp(times, middles, angular[first:, 2].numpy()))


def dead_reckon(stamps, speeds, yaw_rates):
    """
    Integrate a planar path from forward speeds and yaw rates (trapezoid rule).

    :param stamps: N float seconds, increasing.
    :param speeds: N float forward speeds (m/s).
    :param yaw_rates: N float yaw rates (rad/s).
    :return: N x 4 x 4 float64 ``T_odom_base``, the identity at the first sample.
    """
    steps = np.diff(stamps)
    yaw = np.concatenate([[0.0], np.cumsum((yaw_rates[1:] + yaw_rates[:-1]) / 2 * steps)])
    heading = (yaw[1:] + yaw[:-1]) / 2
    forward = (speeds[1:] + speeds[:-1]) / 2 * steps
    poses = np.tile(np.eye(4), (len(stamps), 1, 1))
    poses[:, 0, 0] = poses[:, 1, 1] = np.cos(yaw)
    poses[:, 1, 0] = np.sin(yaw)
    poses[:, 0, 1] = -poses[:, 1, 0]
    poses[1:, 0, 3] = np.cumsum(forward * np.cos(heading))
    poses[1:, 1, 3] = np.cumsum(forward * np.sin(heading))
    return poses


def reported_covariances(stamps, speeds, config):
    """
    Return the covariances the sensor reports (see :class:`WheelOdometry`).

    :param stamps: N float seconds of the samples.
    :param speeds: N float measured speeds (m/s).
    :param config: the :class:`WheelOdometryConfig`.
    :return: (N x 6 x 6 pose covariances, 6 x 6 twist covariance), float64.
    """
    steps = np.diff(stamps)
    integrated = np.concatenate([[0.0], np.cumsum(steps ** 2)])  # white noise, per unit variance
    distance = np.concatenate([[0.0], np.cumsum(np.abs(speeds[1:] + speeds[:-1]) / 2 * steps)])
    unmeasured = np.full(len(stamps), UNMEASURED_VARIANCE)
    position = config.speed_noise ** 2 * integrated + (config.scale_error * distance) ** 2
    pose = np.stack([position, position, unmeasured, unmeasured, unmeasured,
                     config.yaw_rate_noise ** 2 * integrated], axis=1)
    twist = np.diag([config.speed_noise ** 2, config.speed_noise ** 2, UNMEASURED_VARIANCE,
                     UNMEASURED_VARIANCE, UNMEASURED_VARIANCE, config.yaw_rate_noise ** 2])
    return pose[:, :, None] * np.eye(6), twist


def simulate_wheel_odometry(sequence, config=None):
    """
    Simulate the wheel odometry of a vehicle driving ``sequence`` (see the module docstring).

    :param sequence: a :class:`~defeat_ros.data.frame_sequence.FrameSequence`; its stamps must
        increase.
    :param config: a :class:`WheelOdometryConfig` (None: the defaults).
    :return: the :class:`WheelOdometry` samples covering every frame.
    """
    config = config or WheelOdometryConfig()
    frames = sequence.stamps.detach().double().cpu().numpy()
    generator = np.random.default_rng(config.seed)
    period = 1.0 / config.rate
    first = frames[0] - generator.uniform(0.0, period)
    count = int(np.floor((frames[-1] - first) * config.rate)) + 2
    stamps = first + np.arange(count) * period
    true_speeds, true_yaw_rates = true_motion_at(sequence, stamps)
    speeds = (1.0 + config.scale_error) * true_speeds + generator.normal(
        0.0, config.speed_noise, count)
    yaw_rates = true_yaw_rates + generator.normal(0.0, config.yaw_rate_noise, count)
    pose_covariances, twist_covariance = reported_covariances(stamps, speeds, config)
    return WheelOdometry(stamps=stamps, speeds=speeds, yaw_rates=yaw_rates,
                         poses=dead_reckon(stamps, speeds, yaw_rates),
                         pose_covariances=pose_covariances, twist_covariance=twist_covariance)


def wheel_speeds_at(sequence, times, config=None):
    """
    Return the speed the simulated wheel odometry measures, interpolated linearly at ``times``.

    :param sequence: the :class:`~defeat_ros.data.frame_sequence.FrameSequence` driven.
    :param times: N float seconds on the sequence's clock (its frame stamps, say).
    :param config: a :class:`WheelOdometryConfig` (None: the defaults).
    :return: N float64 m/s; NaN outside the samples (which cover every frame).
    """
    odometry = simulate_wheel_odometry(sequence, config)
    return np.interp(times, odometry.stamps, odometry.speeds, left=np.nan, right=np.nan)
