"""
Helpers for tests with real rclpy nodes talking over DDS on this machine (no mocks).

Each test module gets its own rclpy Context; the DDS domain is unique to the test session's
process and discovery stays on localhost, so concurrent test runs on one machine do not hear
each other. Tests additionally use a namespace of their own.
"""

from collections import defaultdict
from contextlib import contextmanager
import itertools
import os
import threading
import time

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

WAIT_S = 60.0
"""Longest wait for something that should happen within milliseconds (a hang, not a timing)."""

_NAMESPACES = itertools.count()


def ros_environment():
    """Pick a DDS domain for this process and keep discovery on localhost."""
    os.environ['ROS_DOMAIN_ID'] = str(100 + os.getpid() % 100)
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'


@contextmanager
def ros_context():
    """Yield an initialised rclpy Context, shut down afterwards."""
    ros_environment()
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.try_shutdown(context=context)


def unique_namespace(prefix):
    """Return a namespace no other test of this session uses."""
    return f'/{prefix}_{os.getpid()}_{next(_NAMESPACES)}'


@contextmanager
def spinning(context, *nodes):
    """
    Spin ``nodes`` in a background thread; destroy them afterwards.

    The thread calls spin_once until told to stop and is joined before the executor shuts
    down: rclpy 9's Executor.shutdown does not wait for callbacks in flight (it destroys its
    guard condition under them), so no callback may be running by then. Callbacks here are
    short (the node under test infers on its own thread), so one thread serves them all.
    """
    executor = SingleThreadedExecutor(context=context)
    for node in nodes:
        executor.add_node(node)
    stop = threading.Event()

    def spin():
        while not stop.is_set() and context.ok():
            executor.spin_once(timeout_sec=0.05)

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield executor
    finally:
        stop.set()
        thread.join(timeout=30.0)
        executor.shutdown(timeout_sec=10.0)
        for node in nodes:
            node.destroy_node()


def wait_for(predicate, timeout=WAIT_S, period=0.01):
    """Poll ``predicate`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(period)
    return bool(predicate())


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


def publisher_matched(node, topic):
    """Whether ``node``'s publisher on the fully qualified ``topic`` has a subscriber."""
    return any(p.topic_name == topic and p.get_subscription_count() > 0 for p in node.publishers)


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
