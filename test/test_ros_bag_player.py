"""
The rosbags-based bag player with real rclpy and DDS: topics, /clock, rate, offset and loop.

The last test plays a bag into the DeFeat-Net node running on simulated time, which is what
launch/bag_playback.launch.py composes.
"""

import subprocess
import sys
import time

from defeat_ros.bags.reader import open_bag
from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.sequence_bag import write_bag
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.messages.typestore import stamp_ns as stamps_ns
from defeat_ros.nets import ModelConfig, save_model
from defeat_ros.ros.bag_player import BagPlayer, camera_streams
from defeat_ros.ros.depth_node import DepthNode
from nav_msgs.msg import Odometry
import numpy as np
import pytest
from rclpy.parameter import Parameter
from ros_testing import Probe, publisher_matched, ros_context, spinning, stamp_ns
from ros_testing import unique_namespace, wait_for
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
import torch
from untrained import untrained_model

pytestmark = pytest.mark.ros_graph  # a pytest process of their own: see pytest.ini

FRAMES = 6
START = 1_700_000_000.0
TOPICS = {'image_raw': Image, 'image_raw/compressed': CompressedImage,
          'camera_info': CameraInfo, 'depth/ground_truth': Image}


@pytest.fixture(scope='module')
def context():
    with ros_context() as context:
        yield context


@pytest.fixture(scope='module')
def drive():
    return render_sequence(WorldConfig(width=96, height=64, frames=FRAMES, seed=5))


@pytest.fixture(scope='module')
def bag(drive, tmp_path_factory):
    """Write the drive to a bag under a namespace of its own (no cross-talk between tests)."""
    namespace = unique_namespace('bag')
    path = write_bag(drive, tmp_path_factory.mktemp('bags') / 'drive', image_transport='both',
                     depth=True, namespace=namespace, start_time=START, wheel_odometry=False)
    return path, namespace


def make_player(context, bag_path, clock_topic, **overrides):
    values = {'bag': str(bag_path), **overrides}
    return BagPlayer(node_name='bag_player', namespace=unique_namespace('player'),
                     context=context, cli_args=['--ros-args', '-r', f'/clock:={clock_topic}'],
                     parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])


def listen_to_bag(probe, namespace):
    for topic, kind in TOPICS.items():
        probe.listen(kind, f'{namespace}/{topic}')
    probe.listen(Odometry, '/ground_truth/odometry')


def matched(player, probe, namespace, clock_topic):
    topics = [f'{namespace}/{t}' for t in TOPICS] + [clock_topic]
    return all(publisher_matched(player, t) for t in topics)


def clock_ns(probe, topic):
    return [c.clock.sec * 10 ** 9 + c.clock.nanosec for c in probe.messages(topic)]


def backward_jumps(clocks):
    return sum(later < earlier for earlier, later in zip(clocks, clocks[1:]))


def test_player_replays_every_topic_with_clock(context, drive, bag):
    path, namespace = bag
    clock_topic = f'{namespace}/clock'
    player = make_player(context, path, clock_topic, rate=4.0)
    probe = Probe(context, namespace)
    listen_to_bag(probe, namespace)
    probe.listen(Clock, clock_topic)
    stamps = stamps_ns(START, drive.stamps)
    with spinning(context, player, probe.node):
        assert wait_for(lambda: matched(player, probe, namespace, clock_topic))
        player.start()
        assert player.finished.wait(60.0)
        assert wait_for(lambda: all(
            len(probe.messages(f'{namespace}/{t}')) == FRAMES for t in TOPICS))
        assert wait_for(lambda: len(probe.messages('/ground_truth/odometry')) == FRAMES)
        # Each frame's five messages are preceded by a /clock at the frame's stamp.
        assert wait_for(lambda: clock_ns(probe, clock_topic).count(stamps[-1]) >= 5)
        clocks = clock_ns(probe, clock_topic)
        images = probe.messages(f'{namespace}/image_raw')
    assert player.played == FRAMES * (len(TOPICS) + 1)
    assert [stamp_ns(m) for m in images] == stamps
    expected = images_uint8(drive.images)
    for message, pixels in zip(images, expected):
        np.testing.assert_array_equal(np.frombuffer(message.data, np.uint8).reshape(64, 96, 3),
                                      pixels)
    assert all(clocks.count(stamp) >= 5 for stamp in stamps)
    assert clocks == sorted(clocks) and clocks[0] == stamps[0] and clocks[-1] == stamps[-1]


def test_start_offset_and_loop(context, bag):
    path, namespace = bag
    clock_topic = f'{namespace}/loop_clock'
    player = make_player(context, path, clock_topic, rate=10.0, loop=True, start_offset=0.25,
                         wait_for_subscribers=f'{namespace}/camera_info')
    probe = Probe(context, namespace)
    probe.listen(CameraInfo, f'{namespace}/camera_info')
    probe.listen(Clock, clock_topic)
    with spinning(context, player, probe.node):
        assert wait_for(lambda: publisher_matched(player, f'{namespace}/camera_info')
                        and publisher_matched(player, clock_topic))
        player.start()
        assert wait_for(lambda: len(probe.messages(f'{namespace}/camera_info')) >= 9)
        # /clock runs backwards at each new pass.
        assert wait_for(lambda: backward_jumps(clock_ns(probe, clock_topic)) >= 2)
        assert not player.finished.is_set()
        player.stop()
        assert player.finished.is_set()
        infos = probe.messages(f'{namespace}/camera_info')
    # Frames are 0.1 s apart: an offset of 0.25 s plays frames 3, 4, 5, then again.
    first_passes = [stamp_ns(m) - int(START * 1e9) for m in infos[:6]]
    assert first_passes == [300_000_000, 400_000_000, 500_000_000] * 2


def test_the_camera_streams_are_the_colour_image_topics_raw_or_compressed(bag):
    path, namespace = bag
    reader = open_bag(path)
    try:
        played = {c.topic for c in reader.connections}
        streams = camera_streams(reader, path, played)
        assert streams == [(f'{namespace}/image_raw', f'{namespace}/image_raw/compressed')]
        # The 32FC1 ground truth is no camera stream; a topic the player skips is not awaited.
        assert camera_streams(reader, path, played - {f'{namespace}/image_raw'}) == [
            (f'{namespace}/image_raw/compressed',)]
    finally:
        reader.close()


def test_playback_waits_for_a_subscription_to_the_camera_stream(context, drive, bag, capfd):
    """The player starts before anyone listens (a node loading its model): no frame is lost."""
    path, namespace = bag
    player = make_player(context, path, f'{namespace}/wait_clock', rate=10.0)
    probe = Probe(context, namespace)
    with spinning(context, player, probe.node):
        player.start()
        time.sleep(1.0)
        assert player.played == 0 and not player.finished.is_set()
        probe.listen(Image, f'{namespace}/image_raw')  # the raw twin of the stream will do
        assert player.finished.wait(60.0)
        assert wait_for(lambda: len(probe.messages(f'{namespace}/image_raw')) == FRAMES)
        images = probe.messages(f'{namespace}/image_raw')
    assert [stamp_ns(m) for m in images] == stamps_ns(START, drive.stamps)
    logged = capfd.readouterr().err
    assert (f'waiting (at most 60 s) for a subscription on {namespace}/image_raw or '
            f'{namespace}/image_raw/compressed') in logged
    assert 'subscribed: playing' in logged


def test_listed_topics_are_awaited_at_most_wait_timeout(context, bag, capfd):
    path, namespace = bag
    ground_truth = f'{namespace}/depth/ground_truth'
    player = make_player(context, path, f'{namespace}/timeout_clock', rate=10.0,
                         wait_for_subscribers=ground_truth, wait_timeout=0.5)
    with spinning(context, player):
        begun = time.monotonic()
        player.start()
        assert player.finished.wait(60.0)
        assert time.monotonic() - begun >= 0.5
    assert player.played == FRAMES * (len(TOPICS) + 1)
    assert (f'no subscription on {ground_truth} after 0.5 s (wait_timeout): playing anyway'
            in capfd.readouterr().err)
    with pytest.raises(ValueError, match='parameter wait_for_subscribers: /nowhere is not a '
                                         'topic this player publishes'):
        make_player(context, path, '/unused_clock', wait_for_subscribers='/nowhere')


def test_missing_bag_is_a_clear_error(context, tmp_path):
    with pytest.raises(ValueError, match='parameter bag'):
        make_player(context, tmp_path / 'missing', '/unused_clock')
    result = subprocess.run(  # the executable: one fatal line and exit status 1
        [sys.executable, '-m', 'defeat_ros.ros.bag_player', '--ros-args', '-p',
         f'bag:={tmp_path / "missing"}'],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    output = result.stderr + result.stdout
    assert 'cannot start' in output and 'parameter bag' in output
    assert 'Traceback' not in output


def test_node_on_sim_time_processes_the_played_bag(context, drive, bag, tmp_path):
    """Bag -> player (/clock) -> DeFeat-Net node with use_sim_time: what the launch file does."""
    path, namespace = bag
    torch.manual_seed(0)
    model = save_model(untrained_model(ModelConfig(feature_dims=8, height=64, width=96,
                                                   encoder_width=16)),
                       tmp_path / 'model')
    node = DepthNode(namespace=namespace, context=context, parameter_overrides=[
        Parameter('model', value=str(model)), Parameter('backend', value='pytorch'),
        Parameter('use_sim_time', value=True), Parameter('input_qos', value='DEFAULT')],
        cli_args=['--ros-args', '-r', 'image:=image_raw'])
    player = make_player(context, path, '/clock', rate=0.5)
    probe = Probe(context, namespace)
    probe.listen(Image, 'depth/image')
    stamps = stamps_ns(START, drive.stamps)
    with spinning(context, node, player, probe.node):
        assert wait_for(lambda: publisher_matched(player, f'{namespace}/image_raw')
                        and publisher_matched(node, f'{namespace}/depth/image'))
        player.start()
        assert player.finished.wait(60.0)
        assert wait_for(lambda: stamps[-1] in [stamp_ns(m) for m in probe.messages('depth/image')])
        now = node.get_clock().now().nanoseconds
    outputs = [stamp_ns(m) for m in probe.messages('depth/image')]
    assert set(outputs) <= set(stamps) and outputs == sorted(outputs)
    assert stamps[0] <= now <= stamps[-1]  # the node's clock is the bag's
