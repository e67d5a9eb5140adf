"""
The node's ROS-free parts: odometry chaining, the newest-frame slot and the diagnostics.

Odometry is checked analytically: the true relative motions of a synthetic drive, chained,
reproduce the true REP-105 body trajectory and twists that the bag writer records.
"""

import threading

from defeat_ros.camera.input_stream import InputStream
from defeat_ros.camera.odometry import GAP_SPEED_MARGIN, LOST_VARIANCE, OdometryChain
from defeat_ros.camera.odometry import STEP_ROTATION_SIGMA
from defeat_ros.camera.odometry import STEP_TRANSLATION_FLOOR, STEP_TRANSLATION_FRACTION
from defeat_ros.data.body_motion import body_trajectory, body_twists
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.geometry import invert_pose, matrix_to_quaternion, mount_pose, optical_to_body
from defeat_ros.geometry import R_OPTICAL_BODY, rpy_to_matrix
from defeat_ros.messages.typestore import stamp_ns
from defeat_ros.ros.diagnostics import diagnostic_status, MAX_SAMPLES, PipelineStats
from defeat_ros.ros.latest_slot import LatestSlot
from diagnostic_msgs.msg import DiagnosticStatus
import numpy as np
import pytest

SIZE = (16, 32)
START = 1_700_000_000.0
START_NS = 1_700_000_000_000_000_000


@pytest.fixture(scope='module')
def drive():
    sequence = render_sequence(WorldConfig(width=32, height=16, frames=30, seed=1))
    poses = sequence.poses.double()
    relative = (invert_pose(poses[:-1]) @ poses[1:]).numpy()  # T_previous_current, optical
    return sequence, relative, stamp_ns(START, sequence.stamps)


def chain_drive(chain, relative, stamps):
    return [chain.update(stamps[0], SIZE, None)] + [
        chain.update(stamp, SIZE, step) for stamp, step in zip(stamps[1:], relative)]


def test_true_relative_motion_gives_the_true_body_trajectory_and_twist(drive):
    sequence, relative, stamps = drive
    estimates = chain_drive(OdometryChain(max_gap_s=0.5), relative, stamps)
    truth = body_trajectory(sequence.poses)
    linear, angular = body_twists(truth, sequence.stamps)
    for index, estimate in enumerate(estimates):
        np.testing.assert_allclose(estimate.t_odom_base, truth[index].numpy(), atol=1e-5)
    for index, estimate in enumerate(estimates[1:], 1):
        assert estimate.tracking and estimate.reset_reason == ''
        np.testing.assert_allclose(estimate.linear, linear[index].numpy(), atol=1e-3)
        np.testing.assert_allclose(estimate.angular, angular[index].numpy(), atol=1e-4)
    # REP-103: the car drives forward along +x, and the speed is the drive's 5..12 m/s.
    assert estimates[-1].t_odom_base[0, 3] > 10.0
    assert all(4.0 < e.linear[0] < 13.0 for e in estimates[1:])
    assert all(abs(e.linear[1]) < 1.0 and abs(e.linear[2]) < 1.0 for e in estimates[1:])


def test_optical_forward_is_body_forward():
    step = np.eye(4)
    step[:3, 3] = [0.1, 0.2, 1.0]  # right 0.1, down 0.2, forward 1 (optical)
    np.testing.assert_allclose(optical_to_body(step)[:3, 3], [1.0, -0.1, -0.2])


def test_covariance_is_exact_at_the_origin_and_grows_while_tracking(drive):
    _, relative, stamps = drive
    estimates = chain_drive(OdometryChain(), relative[:3], stamps[:4])
    first = estimates[0]
    assert not first.tracking and first.reset_reason == 'first frame'
    np.testing.assert_array_equal(first.t_odom_base, np.eye(4))
    np.testing.assert_array_equal(first.pose_covariance, np.zeros((6, 6)))
    assert np.allclose(np.diag(first.twist_covariance), LOST_VARIANCE)
    # A tracked step: sigma = 5 % of the step + 1 cm; 0.005 rad; twist variance / dt^2.
    step_length = np.linalg.norm(relative[0][:3, 3])
    translation_var = (STEP_TRANSLATION_FRACTION * step_length + STEP_TRANSLATION_FLOOR) ** 2
    dt = (stamps[1] - stamps[0]) * 1e-9
    second = estimates[1]
    np.testing.assert_allclose(np.diag(second.pose_covariance),
                               [translation_var] * 3 + [STEP_ROTATION_SIGMA ** 2] * 3)
    np.testing.assert_allclose(np.diag(second.twist_covariance)[:3], translation_var / dt ** 2)
    # Pose variance accumulates (drift), twist variance does not.
    assert (np.diag(estimates[3].pose_covariance) > np.diag(second.pose_covariance)).all()
    assert np.diag(estimates[3].pose_covariance)[0] < 0.01


def test_a_gap_holds_the_pose_with_the_unseen_motion_in_its_covariance(drive):
    _, relative, stamps = drive
    chain = OdometryChain(max_gap_s=0.5)
    before = chain_drive(chain, relative[:4], stamps[:5])[-1]
    held = chain.t_odom_base.copy()
    assert np.linalg.norm(held[:3, 3]) > 1.0
    late = stamps[4] + 600_000_000
    assert 'gap of 0.600 s' in chain.reset_reason(late, SIZE)
    gap = chain.update(late, SIZE, relative[4])
    assert not gap.tracking and 'gap' in gap.reset_reason
    np.testing.assert_array_equal(gap.t_odom_base, held)
    np.testing.assert_array_equal(gap.linear, np.zeros(3))
    assert np.allclose(np.diag(gap.twist_covariance), LOST_VARIANCE)
    # The vehicle may have moved at up to GAP_SPEED_MARGIN times its last speed while unseen.
    speed = np.linalg.norm(before.linear)
    unseen = GAP_SPEED_MARGIN * speed * 0.6 + STEP_TRANSLATION_FLOOR
    np.testing.assert_allclose(np.diag(gap.pose_covariance)[:3],
                               np.diag(before.pose_covariance)[:3] + unseen ** 2)
    assert 1.0 < np.diag(gap.pose_covariance)[0] < 1000.0  # finite: consumers keep using it
    tracked = chain.update(late + 100_000_000, SIZE, relative[5])
    assert tracked.tracking
    assert (np.diag(tracked.pose_covariance) > np.diag(gap.pose_covariance)).all()
    assert np.diag(tracked.pose_covariance).max() < LOST_VARIANCE
    assert np.diag(tracked.twist_covariance).max() < 1.0


def test_a_steady_camera_keeps_tracking_however_slow_the_processing(drive):
    """Processed frames far apart do not reset while the camera's own stream has no gap."""
    _, relative, stamps = drive
    chain = OdometryChain(max_gap_s=0.5)
    chain.update(stamps[0], SIZE, None)
    late = stamps[0] + 900_000_000  # 0.9 s later: the node skipped the frames in between
    steady = chain.update(late, SIZE, relative[0], input_gap_s=0.1)
    assert steady.tracking and steady.reset_reason == ''
    stalled = chain.update(late + 900_000_000, SIZE, relative[1], input_gap_s=0.9)
    assert 'gap of 0.900 s in the camera stream' in stalled.reset_reason


def test_other_restarts_hold_or_restart_the_pose(drive):
    _, relative, stamps = drive
    chain = OdometryChain(max_gap_s=0.5)
    chain_drive(chain, relative[:4], stamps[:5])
    held = chain.t_odom_base.copy()
    # A new image size and a repeated stamp lose tracking without moving the pose.
    resized = chain.update(stamps[5], (32, 64), relative[4])
    assert 'image size changed' in resized.reset_reason
    np.testing.assert_array_equal(resized.t_odom_base, held)
    assert 'repeated stamp' in chain.update(stamps[5], (32, 64), relative[5]).reset_reason
    no_motion = chain.update(stamps[6], (32, 64), None)
    assert 'no relative motion' in no_motion.reset_reason
    # Time running backwards (a bag loop) starts a new odom origin with honest covariance.
    again = chain.update(stamps[0], SIZE, relative[0])
    assert 'backwards' in again.reset_reason
    np.testing.assert_array_equal(again.t_odom_base, np.eye(4))
    resumed = chain.update(stamps[1], SIZE, relative[0])
    assert resumed.tracking and np.diag(resumed.pose_covariance).max() < 0.01


def test_odometry_is_of_the_base_frame_the_camera_is_mounted_on(drive):
    """A camera 1.2 m ahead of base_link, 1.5 m up, pitched down and yawed left."""
    sequence, relative, stamps = drive
    mount = mount_pose(1.2, 0.0, 1.5, 0.0, 0.1, 0.3)
    truth_camera = body_trajectory(sequence.poses).numpy()  # camera body frames in odom
    # The base carrying that camera: T_odom_base = T_odom_camera_optical @ inv(mount).
    to_optical = np.eye(4)
    to_optical[:3, :3] = R_OPTICAL_BODY.T
    base = np.array([pose @ to_optical @ np.linalg.inv(mount) for pose in truth_camera])
    base = np.linalg.inv(base[0]) @ base
    estimates = chain_drive(OdometryChain(t_base_optical=mount), relative, stamps)
    for index, estimate in enumerate(estimates):
        np.testing.assert_allclose(estimate.t_odom_base, base[index], atol=1e-5)
    # Velocities in base axes: the base's own motion, with the lever arm in turns.
    for index, estimate in enumerate(estimates[1:], 1):
        step = np.linalg.inv(base[index - 1]) @ base[index]
        dt = (stamps[index] - stamps[index - 1]) * 1e-9
        np.testing.assert_allclose(estimate.linear, step[:3, :3].T @ step[:3, 3] / dt,
                                   atol=1e-3)
    # The default mount is the camera's own body frame (all zero).
    np.testing.assert_allclose(mount_pose()[:3, :3], R_OPTICAL_BODY.T)


def test_mount_rotation_follows_tf2_roll_pitch_yaw():
    # Pitching down by 0.1 rad turns the optical axis (z) towards -z of the base.
    optical_axis = mount_pose(pitch=0.1)[:3, 2]
    np.testing.assert_allclose(optical_axis, [np.cos(0.1), 0.0, -np.sin(0.1)], atol=1e-12)
    # Yawing left by 0.3 rad turns it towards +y.
    np.testing.assert_allclose(mount_pose(yaw=0.3)[:3, 2], [np.cos(0.3), np.sin(0.3), 0.0],
                               atol=1e-12)
    # The launch file's forward-looking quaternion (x, y, z, w) = (-0.5, 0.5, -0.5, 0.5).
    np.testing.assert_allclose(matrix_to_quaternion(mount_pose()[:3, :3]),
                               [-0.5, 0.5, -0.5, 0.5], atol=1e-12)
    np.testing.assert_allclose(rpy_to_matrix(0.2, -0.1, 0.4),
                               rpy_to_matrix(0, 0, 0.4) @ rpy_to_matrix(0, -0.1, 0)
                               @ rpy_to_matrix(0.2, 0, 0), atol=1e-12)


def test_input_stream_counts_upstream_losses_and_reports_gaps_up_to_a_frame():
    stream = InputStream()
    period = 33_333_333
    stamps = [START_NS + i * period for i in range(20)]
    missing = {8, 9, 10, 15}  # lost in DDS before reaching the node
    for index, stamp in enumerate(stamps):
        if index not in missing:
            stream.add(stamp)
    assert stream.lost == 4
    assert stream.period() == pytest.approx(period * 1e-9, rel=1e-6)
    # Up to frame 12, the longest interval was 7 -> 11: four periods.
    assert stream.longest_gap_until(stamps[12]) == pytest.approx(4 * period * 1e-9)
    # Later intervals wait for a later frame; consumed ones are not counted twice.
    assert stream.longest_gap_until(stamps[14]) == pytest.approx(period * 1e-9)
    assert stream.longest_gap_until(stamps[19]) == pytest.approx(2 * period * 1e-9)
    assert stream.longest_gap_until(stamps[19]) is None
    # A bag that loops starts afresh: no loss counted for the jump back.
    stream.add(stamps[0])
    stream.add(stamps[1])
    assert stream.lost == 4 and stream.period() is None


def test_latest_slot_keeps_only_the_newest_item():
    slot = LatestSlot()
    assert slot.put('a') is False
    assert slot.put('b') is True and slot.put('c') is True
    assert slot.dropped == 2
    assert slot.take() == 'c'
    assert slot.take(timeout=0.01) is None
    assert slot.put('d') is False  # taken items never count as dropped
    assert slot.take() == 'd'
    result = []
    taker = threading.Thread(target=lambda: result.append(slot.take()))
    taker.start()
    slot.close()
    taker.join(timeout=10.0)
    assert not taker.is_alive() and result == [None]


def test_diagnostics_levels_and_counts():
    stats = PipelineStats()
    status = diagnostic_status(stats.report(), 'n', 'hw', [('model', 'm')], '/cam/image')
    assert status.level == DiagnosticStatus.WARN and '/cam/image' in status.message
    stats.received(False)
    stats.processed(0.05, 0.04, 0.002)
    status = diagnostic_status(stats.report(), 'n', 'hw', [], '/cam/image')
    values = {kv.key: kv.value for kv in status.values}
    assert status.level == DiagnosticStatus.OK
    assert values['latency p50 (ms)'] == '50.0' and values['inference p50 (ms)'] == '40.0'
    assert values['queue wait p50 (ms)'] == '2.0'
    stats.received(False)
    stats.received(True)
    status = diagnostic_status(stats.report(), 'n', 'hw', [], '/cam/image')
    assert status.level == DiagnosticStatus.WARN and 'dropped 1 of 2' in status.message
    stats.failed("unsupported image encoding 'yuv422'")
    status = diagnostic_status(stats.report(), 'n', 'hw', [('backend', 'b')], '/cam/image')
    values = {kv.key: kv.value for kv in status.values}
    assert status.level == DiagnosticStatus.ERROR and 'yuv422' in status.message
    assert (values['frames received'], values['dropped frames'], values['errors'],
            values['dropped frames (period)'], values['backend']) == ('3', '1', '1', '0', 'b')


def test_diagnostics_memory_is_bounded():
    stats = PipelineStats()
    for _ in range(MAX_SAMPLES + 500):
        stats.processed(0.01, 0.01, 0.0)
    report = stats.report()
    assert report.processed == MAX_SAMPLES + 500 and len(report.latencies) == MAX_SAMPLES
    assert stats.report().latencies == []
