"""
Play a rosbag2 recording with /clock, without rosbag2: the ``bag_player`` executable.

    ros2 run defeat_ros bag_player --ros-args -p bag:=drives/day/bag -p rate:=0.5 -p loop:=true

Reads MCAP or SQLite 3 bags with :mod:`defeat_ros.bags` (rosbags), deserialises each message
and converts it to the rclpy class of its type with the one generic converter
(:func:`~defeat_ros.ros.message_bridge.to_rclpy`), so every type whose Python interfaces are
installed plays (Image, CompressedImage, CameraInfo, Odometry, ...); topics of other types are
skipped with a warning. Messages are published at their recorded pace scaled by ``rate``, on
their recorded topics, with reliable keep-last-10 publishers. ``/clock``
(rosgraph_msgs/Clock, importable from the ROS 2 wheels) carries the recorded time: before each
message and, between messages, at ``clock_frequency``; nodes with ``use_sim_time`` follow it.
Playback starts ``start_offset`` seconds into the bag; with ``loop`` it starts over at the end
(time then jumps backwards, which the DeFeat-Net node treats as a new drive).

Playback waits until someone listens, so that no frame is played to nobody while the DeFeat-Net
node loads its model: by default until every camera stream of the bag has a subscription (an
Image topic whose first message has a colour encoding, or a CompressedImage topic that is not
compressed depth; a raw topic and its ``/compressed`` twin are one stream, either will do), or
until each topic of ``wait_for_subscribers`` has one; at most ``wait_timeout`` seconds (0: do
not wait), then it warns and plays anyway. ``delay`` adds wall seconds after that.
"""

from dataclasses import dataclass
import sys
import threading
import time

from defeat_ros.bags.reader import BagError, open_bag, read_messages
from defeat_ros.bags.topics import first_messages
from defeat_ros.messages.decode import is_compressed_depth
from defeat_ros.messages.image_encoding import eight_bit_encoding
from defeat_ros.messages.typestore import COMPRESSED_IMAGE, IMAGE
from defeat_ros.ros import parameters
from defeat_ros.ros.message_bridge import rclpy_class, to_rclpy
from defeat_ros.ros.node_main import run_node
from defeat_ros.typed_config import option, TypedConfig
import rclpy
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rosgraph_msgs.msg import Clock

NODE_NAME = 'bag_player'
QUEUE_DEPTH = 10


@dataclass
class PlayerConfig(TypedConfig):
    """The bag player's parameters."""

    bag: str = option('', 'rosbag2 directory (or .mcap / .db3 file) to play', read_only=True)
    rate: float = option(1.0, 'Playback speed factor', minimum=0.01, maximum=100.0)
    loop: bool = option(False, 'Start over at the end of the bag')
    start_offset: float = option(0.0, 'Seconds into the bag to start at', minimum=0.0,
                                 maximum=1e9)
    clock: bool = option(True, 'Publish /clock')
    clock_frequency: float = option(40.0, '/clock messages per second between messages',
                                    minimum=1.0, maximum=1000.0)
    wait_for_subscribers: str = option(
        '', 'Topics (comma-separated) that must each have a subscription before playback '
        'starts; empty: every camera stream of the bag (a raw image topic or its /compressed '
        'twin)', read_only=True)
    wait_timeout: float = option(60.0, 'Longest wait (s) for those subscriptions; then a '
                                 'warning, and playback starts anyway (0: do not wait)',
                                 minimum=0.0, maximum=86400.0)
    delay: float = option(0.0, 'Wall seconds to wait before playing, after the subscriptions',
                          minimum=0.0, maximum=3600.0)


def time_msg(nanoseconds):
    """Return a builtin_interfaces/Time message inside a rosgraph_msgs/Clock."""
    clock = Clock()
    clock.clock.sec, clock.clock.nanosec = divmod(int(nanoseconds), 10 ** 9)
    return clock


class BagPlayer(Node):
    """Publishes a bag's messages and /clock at the recorded pace (see the module docstring)."""

    def __init__(self, node_name=NODE_NAME, **kwargs):
        """
        Declare the parameters, open the bag and create one publisher per playable topic.

        :raises ValueError: naming the ``bag`` parameter when there is no readable bag.
        """
        super().__init__(node_name, **kwargs)
        self._reader = None
        self._thread = None
        self._stop = threading.Event()
        self.finished = threading.Event()
        """Set when playback has ended (never with ``loop``, unless the node is destroyed)."""
        self.played = 0
        """Messages published so far."""
        try:
            self._open()
        except BaseException:
            self.destroy_node()
            raise

    def _open(self):
        """Declare the parameters, open the bag and create the publishers."""
        parameters.declare(self, PlayerConfig)
        self._bag = self.get_parameter('bag').value
        if not self._bag:
            raise ValueError("parameter bag: '' is not a rosbag2 directory or file")
        try:
            self._reader = open_bag(self._bag)
        except BagError as error:
            raise ValueError(f'parameter bag: {error}') from error
        self._connections, self._topic_publishers = [], {}
        for connection in self._reader.connections:
            try:
                cls = rclpy_class(connection.msgtype)
            except ImportError as error:
                self.get_logger().warning(f'skipping {connection.topic}: {error}')
                continue
            self._connections.append(connection)
            if connection.topic not in self._topic_publishers:
                self._topic_publishers[connection.topic] = self.create_publisher(
                    cls, connection.topic, QUEUE_DEPTH)
        self._clock_publisher = self.create_publisher(Clock, '/clock', QUEUE_DEPTH)
        self._waits = self._subscriptions_to_wait_for()
        self.get_logger().info(f'{self._bag}: {len(self._connections)} topics, '
                               f'{self._reader.message_count} messages')

    def _subscriptions_to_wait_for(self):
        """
        Return the groups of played topics playback waits for: one subscription in each.

        :raises ValueError: naming the parameter when it lists a topic this player does not
            publish.
        """
        listed = [t.strip() for t in self.get_parameter('wait_for_subscribers').value.split(',')]
        listed = [t for t in listed if t]
        if not listed:
            try:
                return camera_streams(self._reader, self._bag, self._topic_publishers)
            except BagError as error:
                raise ValueError(f'parameter bag: {error}') from error
        namespace = self.get_namespace().rstrip('/')
        groups = []
        for topic in listed:
            name = topic if topic.startswith('/') else f'{namespace}/{topic}'
            found = [t for t, publisher in self._topic_publishers.items()
                     if name in (t, publisher.topic_name)]
            if not found:
                raise ValueError(f'parameter wait_for_subscribers: {topic} is not a topic this '
                                 f'player publishes ({", ".join(self.topics) or "none"})')
            groups.append((found[0],))
        return groups

    @property
    def topics(self):
        """Return the topics this player publishes."""
        return sorted(self._topic_publishers)

    def publisher_of(self, topic):
        """Return the publisher of a played topic (``/clock`` included)."""
        return self._clock_publisher if topic == '/clock' else self._topic_publishers[topic]

    def start(self):
        """Start playing on a background thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._play, name='bag_player', daemon=True)
            self._thread.start()

    def _param(self, name):
        return self.get_parameter(name).value

    def _play(self):
        """Play once, or until stopped with ``loop``."""
        try:
            if not self._wait_for_subscribers() or self._stop.wait(self._param('delay')):
                return
            while not self._stop.is_set():
                self._play_once()
                if not self._param('loop'):
                    break
        except Exception as error:  # report, and let main() end instead of hanging
            if self.context.ok():
                self.get_logger().error(f'playback failed: {type(error).__name__}: {error}')
        finally:
            self.finished.set()

    def _unheard(self):
        """Return the groups of :meth:`_subscriptions_to_wait_for` with no subscription yet."""
        return [group for group in self._waits if not any(
            self._topic_publishers[topic].get_subscription_count() for topic in group)]

    def _wait_for_subscribers(self):
        """Wait (at most ``wait_timeout``) until someone listens; return False when stopped."""
        timeout = self._param('wait_timeout')
        unheard = self._unheard()
        if not unheard or timeout <= 0:
            return True
        self.get_logger().info(f'waiting (at most {timeout:g} s) for a subscription on '
                               f'{describe(unheard)}')
        deadline = time.monotonic() + timeout
        while unheard:
            if time.monotonic() >= deadline:
                self.get_logger().warning(
                    f'no subscription on {describe(unheard)} after {timeout:g} s '
                    f'(wait_timeout): playing anyway')
                return True
            if self._stop.wait(0.02):
                return False
            unheard = self._unheard()
        self.get_logger().info('subscribed: playing')
        return True

    def _play_once(self):
        """Publish the messages from ``start_offset`` to the end at the paced times."""
        start = self._reader.start_time + int(self._param('start_offset') * 1e9)
        wall_start = time.monotonic()
        for connection, stamp, message in read_messages(self._reader, self._connections,
                                                        self._bag, start=start):
            rate = self._param('rate')
            due = wall_start + (stamp - start) * 1e-9 / rate
            if not self._wait_until(due, stamp, start, wall_start, rate):
                return
            message = to_rclpy(message)
            if self._param('clock'):
                self._clock_publisher.publish(time_msg(stamp))
            self._topic_publishers[connection.topic].publish(message)
            self.played += 1

    def _wait_until(self, due, stamp, start, wall_start, rate):
        """
        Sleep until the wall time ``due`` of the message at ``stamp``, publishing /clock.

        The clock between messages follows the wall time but never passes ``stamp``, so /clock
        never runs backwards within a pass. Return False when stopped.
        """
        while True:
            now = time.monotonic()
            if now >= due:
                return not self._stop.is_set()
            period = 1.0 / self._param('clock_frequency')
            if self._stop.wait(min(period, due - now)):
                return False
            if self._param('clock'):
                elapsed = int((time.monotonic() - wall_start) * rate * 1e9)
                self._clock_publisher.publish(time_msg(min(start + elapsed, stamp)))

    def stop(self):
        """Stop playback and wait for the playing thread to end."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10.0)

    def destroy_node(self):
        """Stop playback, close the bag and destroy the node."""
        self.stop()
        if self._reader is not None:
            self._reader.close()
        return super().destroy_node()


def camera_stream_topics(reader, path):
    """Return the camera image topics of an open bag (colour Image, non-depth compressed)."""
    colour = [topic for topic, first in first_messages(reader, path, IMAGE)
              if first is not None and eight_bit_encoding(first.encoding)]
    compressed = [topic for topic, first in first_messages(reader, path, COMPRESSED_IMAGE)
                  if first is not None and not is_compressed_depth(first.format)]
    return colour + compressed


def camera_streams(reader, path, played):
    """
    Return the camera streams among the ``played`` topics, as groups of topics.

    A raw image topic and its ``/compressed`` twin form one group (one stream).
    """
    groups = {}
    for topic in camera_stream_topics(reader, path):
        if topic in played:
            groups.setdefault(topic.removesuffix('/compressed'), []).append(topic)
    return [tuple(group) for _, group in sorted(groups.items())]


def describe(groups):
    """Say which topics are awaited: 'a or a/compressed, b'."""
    return ', '.join(' or '.join(group) for group in groups)


def play(node, stopping):
    """Play until the bag ends (never with ``loop``), a stop signal or rclpy shuts down."""
    node.start()
    while rclpy.ok() and not node.finished.is_set() and not stopping.is_set():
        rclpy.spin_once(node, timeout_sec=0.1)


def main(args=None):
    """Play the bag to its end (or forever with ``loop``); exit status 1 when it cannot."""
    return run_node(BagPlayer, NODE_NAME, (ParameterException, ValueError, OSError), play,
                    args)


if __name__ == '__main__':
    sys.exit(main())
