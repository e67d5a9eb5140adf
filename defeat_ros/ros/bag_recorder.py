"""
Record topics into a rosbag2 (MCAP or SQLite 3) from a running graph, without rosbag2.

:class:`BagRecorder` subscribes to the given topics with ``raw=True``, so messages arrive as the
CDR bytes that travelled over DDS, and writes those bytes unchanged with
:func:`~defeat_ros.bags.writer.create_bag`: what is recorded is exactly what was published. Each
message whose first field is a header is logged at its header stamp, read from the bytes without
deserialising (so results line up with the input frames they came from); others at the node's clock
(``/clock`` with ``use_sim_time``). The bag is written beside its path and appears there, complete,
once :meth:`BagRecorder.close` (or ``destroy_node``) has run.
"""

import struct
import threading
import time

from defeat_ros.bags.writer import create_bag
from defeat_ros.messages.typestore import TYPESTORE
from defeat_ros.ros.message_bridge import rclpy_class
from rclpy.node import Node

QUEUE_DEPTH = 100


def header_stamp_ns(raw):
    """
    Read the header stamp of a CDR message whose first field is std_msgs/Header.

    After the 4-byte encapsulation (its second byte: 1 little-endian, 0 big-endian) come the
    stamp's int32 sec and uint32 nanosec, so a large image need not be deserialised for it.
    """
    sec, nanosec = struct.unpack_from('<iI' if raw[1] == 1 else '>iI', raw, 4)
    return sec * 10 ** 9 + nanosec


class BagRecorder(Node):
    """
    Write every message on ``topics`` into a new bag at ``path``.

    :param path: bag directory to create (must not exist).
    :param topics: {topic: message type such as ``'sensor_msgs/msg/Image'``}.
    :param storage: ``'mcap'`` or ``'sqlite3'``.
    :param kwargs: passed to rclpy's Node (context, parameter_overrides, ...).
    """

    def __init__(self, path, topics, storage='mcap', node_name='bag_recorder', **kwargs):
        """Open the bag and subscribe to ``topics`` (an error leaves no bag behind)."""
        self._writer = create_bag(path, storage)
        try:
            super().__init__(node_name, **kwargs)
            self.path = self._writer.path
            self.counts = dict.fromkeys(topics, 0)
            """Messages recorded per topic."""
            self.last_message = time.monotonic()
            """Monotonic time of the latest message (of the start, before any)."""
            self._lock = threading.Lock()
            for topic, msgtype in topics.items():
                cls = rclpy_class(msgtype)
                connection = self._writer.add_connection(topic, msgtype, typestore=TYPESTORE)
                self.create_subscription(
                    cls, topic, self._recorder(topic, cls, connection), QUEUE_DEPTH, raw=True)
        except BaseException:
            self._writer.abort()
            raise

    def _recorder(self, topic, cls, connection):
        """Return the callback that writes raw messages of ``topic``."""
        stamped = next(iter(cls.get_fields_and_field_types()), None) == 'header'

        def record(raw):
            if stamped:
                nanoseconds = header_stamp_ns(raw)
            else:
                nanoseconds = self.get_clock().now().nanoseconds
            with self._lock:
                if self._writer is None:
                    return
                self._writer.write(connection, nanoseconds, raw)
                self.counts[topic] += 1
                self.last_message = time.monotonic()
        return record

    def close(self):
        """Finish the bag (idempotent); later messages are ignored."""
        with self._lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.close()

    def destroy_node(self):
        """Finish the bag, then destroy the node."""
        self.close()
        return super().destroy_node()
