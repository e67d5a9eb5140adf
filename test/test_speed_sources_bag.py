"""The vehicle's speed at each frame: from a bag's speed topic, and simulated wheel odometry."""

import math

from defeat_ros.bags.reader import BagError, open_bag, read_messages
from defeat_ros.bags.writer import create_bag
from defeat_ros.data.frame_sequence import FrameSequence
from defeat_ros.data.rosbag_sequence import BagConfig, BagSequence, RosbagDataset
from defeat_ros.data.sequence_bag import WHEEL_ODOMETRY_TOPIC, write_bag
from defeat_ros.data.synthetic import SyntheticDataset
from defeat_ros.data.travel import speeds_at
from defeat_ros.data.wheel_speed import UNMEASURED_VARIANCE, wheel_speeds_at, WheelOdometryConfig
from defeat_ros.messages.builders import image_msg, odometry_msg, vector3
from defeat_ros.messages.typestore import header, header_ns, IMAGE, msg, ODOMETRY
from defeat_ros.messages.typestore import TWIST_STAMPED, TWIST_WITH_COVARIANCE_STAMPED, TYPESTORE
import numpy as np
import pytest
import torch

BASE_NS = 1_700_000_000 * 10 ** 9
SIZE = 8
"""Height and width of the images (pixels)."""
INTRINSICS = [0.5, 0.5, 0.5, 0.5]
"""Normalised intrinsics, so the bags need no CameraInfo."""

IMAGE_SECONDS = [0.80, 1.00, 1.10, 1.20, 1.30, 1.40, 2.05, 2.20]
"""Header stamps of the frames, seconds after BASE_NS."""
SPEED_MESSAGES = [(0.90, (4.0, 0.0, 0.0)), (1.10, (0.0, -6.0, 0.0)), (1.30, (3.0, 0.0, 4.0)),
                  (1.35, (7.0, 0.0, 0.0)), (2.00, (0.0, 0.0, 2.0)), (2.10, (-3.0, 0.0, 0.0))]
"""(header stamp, twist.linear) of the speed messages: speeds 4, 6, 5, 7, 2 and 3 m/s."""
SPEED_LOG_DELAY = 0.1
"""Speed messages are recorded this long (s) after their header stamp; images at theirs."""

BY_HEADER = [math.nan, 5.0, 6.0, 5.5, 5.0, math.nan, 2.5, math.nan]
"""The speeds of IMAGE_SECONDS by header stamps, by hand: before the first message, between
0.90 (4) and 1.10 (6), on 1.10, halfway to 1.30 (5), on 1.30, between 1.35 and 2.00 (0.65 s
apart: too far), halfway from 2.00 (2) to 2.10 (3), after the last message."""
BY_LOG_TIME = [math.nan, 4.0, 5.0, 6.0, 5.5, 5.0, math.nan, 3.0]
"""The same by log time (messages at 1.00, 1.20, 1.40, 1.45, 2.10, 2.20): 1.45 to 2.10 is the
long gap and 2.20 is the last message."""


def nanoseconds(seconds):
    """Return BASE_NS + ``seconds``, exact to the nanosecond."""
    return BASE_NS + round(seconds * 1e9)


def speed_message(msgtype, linear, hdr):
    """Return a message of ``msgtype`` whose twist.linear is ``linear`` (no rotation)."""
    twist = msg('geometry_msgs/msg/Twist', linear=vector3(linear), angular=vector3((0, 0, 0)))
    if msgtype == ODOMETRY:
        return odometry_msg(np.eye(4), linear, (0.0, 0.0, 0.0), hdr)
    if msgtype == TWIST_STAMPED:
        return msg(TWIST_STAMPED, header=hdr, twist=twist)
    return msg(TWIST_WITH_COVARIANCE_STAMPED, header=hdr,
               twist=msg('geometry_msgs/msg/TwistWithCovariance', twist=twist,
                         covariance=np.zeros(36)))


def write_speed_bag(path, speed_topics):
    """
    Record the frames of IMAGE_SECONDS on /camera/image_raw and speed topics beside them.

    :param speed_topics: {topic: (msgtype, [(header seconds, linear), ...])}; an empty list
        adds the topic without messages.
    :return: the bag directory.
    """
    pixels = np.zeros((SIZE, SIZE, 3), np.uint8)
    with create_bag(path) as writer:
        camera = writer.add_connection('/camera/image_raw', IMAGE, typestore=TYPESTORE)
        writes = [(nanoseconds(seconds), camera,
                   image_msg(pixels, header(nanoseconds(seconds), 'camera_optical')))
                  for seconds in IMAGE_SECONDS]
        for topic, (msgtype, messages) in speed_topics.items():
            connection = writer.add_connection(topic, msgtype, typestore=TYPESTORE)
            writes += [(nanoseconds(seconds + SPEED_LOG_DELAY), connection,
                        speed_message(msgtype, linear, header(nanoseconds(seconds), 'odom')))
                       for seconds, linear in messages]
        for log_time, connection, message in sorted(writes, key=lambda write: write[0]):
            writer.write(connection, log_time,
                         TYPESTORE.serialize_cdr(message, connection.msgtype))
    return path


def bag_sequence(path, **config):
    """Open ``path`` as a BagSequence of SIZE x SIZE frames with the intrinsics configured."""
    return BagSequence(path, BagConfig(intrinsics=INTRINSICS, **config), SIZE, SIZE)


@pytest.mark.parametrize('msgtype', [ODOMETRY, TWIST_STAMPED, TWIST_WITH_COVARIANCE_STAMPED])
def test_speeds_are_interpolated_at_the_frames_by_the_frames_stamp_source(tmp_path, msgtype):
    path = write_speed_bag(tmp_path / 'bag', {'/vehicle/speed': (msgtype, SPEED_MESSAGES)})
    by_header = bag_sequence(path)
    np.testing.assert_allclose(by_header.speeds, BY_HEADER, rtol=1e-12)
    assert by_header.speeds.dtype == np.float64 and by_header.speeds.shape == (8,)
    assert by_header.speed_source == 'bag topic /vehicle/speed'
    by_log_time = bag_sequence(path, stamp_source='log', speed_topic='/vehicle/speed')
    np.testing.assert_allclose(by_log_time.speeds, BY_LOG_TIME, rtol=1e-12)


def test_speeds_at_measurements_gaps_and_repeated_times():
    times = [100, 0, 10, 10]
    speeds = [3.0, 1.0, 2.0, 9.0]  # the second measurement at 10 counts once: the first
    at = [-1, 0, 5, 10, 50, 100, 101]
    expected = [math.nan, 1.0, 1.5, 2.0, math.nan, 3.0, math.nan]
    np.testing.assert_allclose(speeds_at(times, speeds, at, max_gap=20), expected)
    np.testing.assert_allclose(speeds_at(times, speeds, at, max_gap=90), [
        math.nan, 1.0, 1.5, 2.0, 2.0 + 40 / 90, 3.0, math.nan])
    np.testing.assert_allclose(speeds_at([7], [4.0], [6, 7, 8], max_gap=20),
                               [math.nan, 4.0, math.nan])


def test_the_automatic_choice_ignores_ground_truth_and_empty_topics(tmp_path):
    truth = [(seconds, (100.0, 0.0, 0.0)) for seconds, _ in SPEED_MESSAGES]
    path = write_speed_bag(tmp_path / 'bag', {
        '/ground_truth/odometry': (ODOMETRY, truth),
        '/vehicle/twist': (TWIST_STAMPED, SPEED_MESSAGES),
        '/vehicle/silent': (TWIST_WITH_COVARIANCE_STAMPED, [])})
    source = bag_sequence(path)
    assert source.speed_source == 'bag topic /vehicle/twist'
    np.testing.assert_allclose(source.speeds, BY_HEADER)
    truth_only = write_speed_bag(tmp_path / 'truth', {
        '/ground_truth/odometry': (ODOMETRY, truth), '/silent': (TWIST_STAMPED, [])})
    assert bag_sequence(truth_only).speeds is None
    assert bag_sequence(truth_only).speed_source == ''
    named = bag_sequence(truth_only, speed_topic='/ground_truth/odometry')
    np.testing.assert_allclose(named.speeds[1:5], 100.0)


def test_several_candidates_need_speed_topic_and_none_turns_speed_off(tmp_path):
    path = write_speed_bag(tmp_path / 'bag', {'/a/odom': (ODOMETRY, SPEED_MESSAGES),
                                              '/b/twist': (TWIST_STAMPED, SPEED_MESSAGES[:2])})
    with pytest.raises(BagError, match=r'set speed_topic .*several speed topics '
                                       r'\(/a/odom, /b/twist\)') as error:
        bag_sequence(path)
    assert str(path) in str(error.value)
    assert bag_sequence(path, speed_topic='/a/odom').speeds[3] == 5.5
    off = bag_sequence(path, speed_topic='none')
    assert off.speeds is None and off.speed_source == ''


def test_a_named_speed_topic_must_exist_have_a_speed_type_and_messages(tmp_path):
    path = write_speed_bag(tmp_path / 'bag', {'/silent': (TWIST_STAMPED, [])})
    for topic, reason in (('/missing', 'has no speed topic /missing'),
                          ('/camera/image_raw', 'speed topic /camera/image_raw has type '
                                                'sensor_msgs/msg/Image'),
                          ('/silent', 'speed topic /silent: the topic has no messages')):
        with pytest.raises(BagError, match=reason) as error:
            bag_sequence(path, speed_topic=topic)
        assert str(path) in str(error.value)


# Simulated wheel odometry ------------------------------------------------------------------

RADIUS = 40.0
"""Radius (m) of the right-hand curve the test drive follows."""
FPS, FRAMES = 10.0, 31


def distance(seconds):
    """Return the metres driven after ``seconds`` (the speed is 6 + 2 cos(t) m/s)."""
    return 6.0 * seconds + 2.0 * np.sin(seconds)


def true_speed(seconds):
    """Return the drive's speed (m/s) at ``seconds``."""
    return 6.0 + 2.0 * np.cos(seconds)


@pytest.fixture(scope='module')
def curve():
    """Drive along a circle of RADIUS at a varying speed: FRAMES frames at FPS, tiny images."""
    stamps = torch.arange(FRAMES, dtype=torch.float64) / FPS
    angle = torch.from_numpy(distance(stamps.numpy()) / RADIUS)
    poses = torch.eye(4, dtype=torch.float64).repeat(FRAMES, 1, 1)
    # Optical axes: the camera looks along z and turns towards x (right), about y.
    poses[:, 0, 0] = poses[:, 2, 2] = torch.cos(angle)
    poses[:, 0, 2] = torch.sin(angle)
    poses[:, 2, 0] = -torch.sin(angle)
    poses[:, 0, 3] = RADIUS * (1 - torch.cos(angle))
    poses[:, 2, 3] = RADIUS * torch.sin(angle)
    gen = torch.Generator().manual_seed(0)
    return FrameSequence(images=torch.rand(FRAMES, 3, SIZE, SIZE, generator=gen),
                         depths=torch.ones(FRAMES, 1, SIZE, SIZE), poses=poses.float(),
                         k_norm=torch.tensor([[0.5, 0.0, 0.5], [0.0, 0.5, 0.5], [0, 0, 1.0]]),
                         stamps=stamps)


def read_topic(path, topic):
    """Return [(log time ns, message)] of one topic of a bag (None: no such topic)."""
    reader = open_bag(path)
    try:
        connections = [c for c in reader.connections if c.topic == topic]
        if not connections:
            return None
        return [(log_time, message)
                for _, log_time, message in read_messages(reader, connections, path)]
    finally:
        reader.close()


def test_the_wheel_odometry_topic_measures_the_drive_at_its_own_rate(curve, tmp_path):
    config = WheelOdometryConfig(rate=40.0, scale_error=0.02, speed_noise=0.05,
                                 yaw_rate_noise=0.01, seed=3)
    path = write_bag(curve, tmp_path / 'bag', wheel_config=config, start_time=BASE_NS / 1e9)
    wheel = read_topic(path, WHEEL_ODOMETRY_TOPIC)
    stamps = np.array([header_ns(message) for _, message in wheel])
    assert [log_time for log_time, _ in wheel] == stamps.tolist()
    assert np.abs(np.diff(stamps) - 25_000_000).max() <= 1  # 40 Hz, rounded to the ns
    frames = np.array([header_ns(m) for _, m in read_topic(path, '/camera/image_raw')])
    assert stamps[0] <= frames[0] and stamps[-1] >= frames[-1]
    assert stamps[-1] - stamps[0] < frames[-1] - frames[0] + 50_000_000  # within a period
    assert not np.isin(frames, stamps).any()  # not synchronised with the camera
    assert {(m.header.frame_id, m.child_frame_id) for _, m in wheel} == {('odom', 'base_link')}

    seconds = (stamps - BASE_NS) / 1e9
    twists = [message.twist for _, message in wheel]
    speeds = np.array([twist.twist.linear.x for twist in twists])
    residual = speeds - 1.02 * true_speed(seconds)
    assert np.mean(speeds / true_speed(seconds)) == pytest.approx(1.02, abs=0.003)
    assert 0.035 < np.std(residual) < 0.065 and abs(np.mean(residual)) < 0.015
    yaw_rates = np.array([twist.twist.angular.z for twist in twists])
    assert np.std(yaw_rates + true_speed(seconds) / RADIUS) == pytest.approx(0.01, rel=0.3)
    assert {twist.twist.linear.y for twist in twists} == {0.0}
    assert twists[0].covariance[0] == twists[0].covariance[7] == pytest.approx(0.05 ** 2)
    assert twists[0].covariance[35] == pytest.approx(0.01 ** 2)
    assert twists[0].covariance[14] == UNMEASURED_VARIANCE

    # Dead reckoning: a curve as long as measured (2 % long) that turns as far as the drive.
    last = wheel[-1][1].pose.pose
    turned = (distance(seconds[-1]) - distance(seconds[0])) / RADIUS
    assert 2 * math.atan2(last.orientation.z, last.orientation.w) == pytest.approx(
        -turned, abs=0.01)
    chord = 2 * 1.02 * RADIUS * math.sin(turned / 2)
    assert math.hypot(last.position.x, last.position.y) == pytest.approx(chord, abs=0.1)
    first_pose = wheel[0][1].pose
    assert first_pose.pose.position.x == 0.0 and first_pose.covariance[0] == 0.0
    assert wheel[-1][1].pose.covariance[0] > (0.02 * 0.9 * chord) ** 2

    without = write_bag(curve, tmp_path / 'without', wheel_odometry=False)
    assert read_topic(without, WHEEL_ODOMETRY_TOPIC) is None
    assert bag_sequence(without).speeds is None  # only the ground truth: no speed


def test_a_recorded_drive_and_its_in_memory_twin_have_the_measured_speeds(curve, tmp_path):
    path = write_bag(curve, tmp_path / 'bag')
    dataset = RosbagDataset({'paths': [str(path)]},
                            {'height': SIZE, 'width': SIZE, 'augment': {'enabled': False}})
    source = dataset.sources[0]
    assert dataset.speed_sources == [f'bag topic {WHEEL_ODOMETRY_TOPIC}']
    truth = true_speed(curve.stamps.numpy())
    assert np.abs(source.speeds - 1.01 * truth).max() < 4 * 0.03
    assert np.mean(source.speeds / truth) == pytest.approx(1.01, abs=0.01)
    stamps = curve.stamps.numpy()
    np.testing.assert_allclose(source.speeds, wheel_speeds_at(curve, stamps), atol=1e-6)

    twin = SyntheticDataset.from_sequences([curve], {'height': SIZE, 'width': SIZE})
    np.testing.assert_allclose(twin.sources[0].speeds, source.speeds, atol=1e-6)
    assert twin.speed_sources == ['simulated wheel odometry (50 Hz, scale error +1.0%, noise '
                                  '0.03 m/s)']
    sample = twin[5]  # target frame 6, sources 5 and 7
    travelled = 1.01 * (distance(stamps[6]) - distance(stamps[[5, 7]]))
    np.testing.assert_allclose(sample['distances'].numpy(), np.abs(travelled), rtol=0.02)
    silent = SyntheticDataset.from_sequences([curve], {'height': SIZE, 'width': SIZE},
                                             wheel_speed=False)
    assert silent.sources[0].speeds is None and silent.speed_sources == []
