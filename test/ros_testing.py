"""
Helpers for tests with real rclpy nodes talking over DDS on this machine (no mocks).

Each test module gets its own rclpy Context (:func:`defeat_ros.ros.graph.ros_context`: a DDS
domain of the test process's own, discovery on localhost), so concurrent test runs on one
machine do not hear each other. Tests additionally use a namespace of their own.
"""

from collections import defaultdict
import itertools
import os
import threading

from defeat_ros.ros.graph import publisher_matched, ros_context, spinning  # noqa: F401
from defeat_ros.ros.graph import wait_for, WAIT_S  # noqa: F401
import numpy as np
import rclpy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

_NAMESPACES = itertools.count()


def unique_namespace(prefix):
    """Return a namespace no other test of this session uses."""
    return f'/{prefix}_{os.getpid()}_{next(_NAMESPACES)}'


class Probe:
    """A node that publishes test inputs and records every message on the topics it hears."""

    def __init__(self, context, namespace):
        """Create the probe node in ``namespace``."""
        self.node = rclpy.create_node('probe', namespace=namespace, context=context)
        self._lock = threading.Lock()
        self._messages = defaultdict(list)

    def listen(self, kind, topic, qos=100):
        """Record messages of type ``kind`` on ``topic`` (relative to the probe's namespace)."""
        def store(message):
            with self._lock:
                self._messages[topic].append(message)
        self.node.create_subscription(kind, topic, store, qos)

    def messages(self, topic):
        """Return a copy of the list of messages received on ``topic`` so far."""
        with self._lock:
            return list(self._messages[topic])

    def clear(self, topic):
        """Forget what arrived on ``topic``."""
        with self._lock:
            self._messages[topic].clear()


def set_stamp(message, nanoseconds, frame_id):
    """Set a message's header stamp and frame_id; return the message."""
    message.header.stamp.sec, message.header.stamp.nanosec = divmod(int(nanoseconds), 10 ** 9)
    message.header.frame_id = frame_id
    return message


def image_message(pixels, encoding, nanoseconds, frame_id='camera_optical', padding=0):
    """Return a sensor_msgs/Image of an H x W (x C) uint8 array, rows padded by ``padding``."""
    pixels = np.asarray(pixels, dtype=np.uint8)
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    padded = np.zeros((height, rows.shape[1] + padding), np.uint8)
    padded[:, :rows.shape[1]] = rows
    message = Image(height=height, width=width, encoding=encoding, is_bigendian=0,
                    step=padded.shape[1])
    message.data = padded.tobytes()
    return set_stamp(message, nanoseconds, frame_id)


def compressed_message(data, nanoseconds, frame_id='camera_optical', image_format='jpeg'):
    """Return a sensor_msgs/CompressedImage holding encoded bytes."""
    message = CompressedImage(format=image_format)
    message.data = bytes(data)
    return set_stamp(message, nanoseconds, frame_id)


def camera_info_message(fx, fy, cx, cy, height, width, nanoseconds, frame_id='camera_optical'):
    """Return an undistorted sensor_msgs/CameraInfo with OpenCV pixel intrinsics."""
    message = CameraInfo(height=height, width=width, distortion_model='plumb_bob')
    message.d = [0.0] * 5
    message.k = np.array([fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0])
    message.p = np.array([fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0])
    return set_stamp(message, nanoseconds, frame_id)


def stamp_ns(message):
    """Return the header stamp of ``message`` in integer nanoseconds."""
    return message.header.stamp.sec * 10 ** 9 + message.header.stamp.nanosec
