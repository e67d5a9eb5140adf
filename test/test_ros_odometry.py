"""
The node's ROS-free parts: odometry chaining, the newest-frame slot and the diagnostics.

Odometry is checked analytically: the true relative motions of a synthetic drive, chained,
reproduce the true REP-105 body trajectory and twists that the bag writer records.
"""

import threading

from defeat_ros.camera.odometry import LOST_VARIANCE, OdometryChain, STEP_ROTATION_SIGMA
from defeat_ros.camera.odometry import STEP_TRANSLATION_FLOOR, STEP_TRANSLATION_FRACTION
from defeat_ros.data.sequence_bag import body_trajectory, body_twists
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.geometry import invert_pose, optical_to_body
from defeat_ros.messages.typestore import stamp_ns
from defeat_ros.ros.diagnostics import diagnostic_status, MAX_SAMPLES, PipelineStats
from defeat_ros.ros.latest_slot import LatestSlot
from diagnostic_msgs.msg import DiagnosticStatus
import numpy as np
import pytest

SIZE = (16, 32)
START = 1_700_000_000.0


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


def test_covariance_is_huge_when_lost_and_modest_while_tracking(drive):
    _, relative, stamps = drive
    estimates = chain_drive(OdometryChain(), relative[:3], stamps[:4])
    first = estimates[0]
    assert not first.tracking and first.reset_reason == 'first frame'
    np.testing.assert_array_equal(first.t_odom_base, np.eye(4))
    assert np.allclose(np.diag(first.pose_covariance), LOST_VARIANCE)
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


def test_resets_hold_or_restart_the_pose(drive):
    _, relative, stamps = drive
    chain = OdometryChain(max_gap_s=0.5)
    chain_drive(chain, relative[:4], stamps[:5])
    held = chain.t_odom_base.copy()
    assert np.linalg.norm(held[:3, 3]) > 1.0
    # A gap: the motion in between is unknown, the pose is held and its covariance is huge.
    late = stamps[4] + 600_000_000
    assert 'gap of 0.600 s' in chain.reset_reason(late, SIZE)
    gap = chain.update(late, SIZE, relative[4])
    assert not gap.tracking and 'gap' in gap.reset_reason
    np.testing.assert_array_equal(gap.t_odom_base, held)
    np.testing.assert_array_equal(gap.linear, np.zeros(3))
    assert np.allclose(np.diag(gap.twist_covariance), LOST_VARIANCE)
    tracked = chain.update(late + 100_000_000, SIZE, relative[5])
    assert tracked.tracking and np.diag(tracked.pose_covariance).min() >= LOST_VARIANCE
    assert np.diag(tracked.twist_covariance).max() < 1.0
    # A new image size and a repeated stamp also lose tracking without moving the pose.
    resized = chain.update(late + 200_000_000, (32, 64), relative[6])
    assert 'image size changed' in resized.reset_reason
    np.testing.assert_array_equal(resized.t_odom_base, tracked.t_odom_base)
    assert 'repeated stamp' in chain.update(late + 200_000_000, (32, 64), relative[7]).reset_reason
    no_motion = chain.update(late + 300_000_000, (32, 64), None)
    assert 'no relative motion' in no_motion.reset_reason
    # Time running backwards (a bag loop) starts a new odom origin with honest covariance.
    again = chain.update(stamps[0], SIZE, relative[0])
    assert 'backwards' in again.reset_reason
    np.testing.assert_array_equal(again.t_odom_base, np.eye(4))
    resumed = chain.update(stamps[1], SIZE, relative[0])
    assert resumed.tracking and np.diag(resumed.pose_covariance).max() < 0.01


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
