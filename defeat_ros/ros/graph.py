"""
Run rclpy nodes in this process on a private DDS graph: what the demo and the tests share.

:func:`ros_context` picks a DDS domain of this process's own and keeps discovery on localhost,
so a demo or test run never talks to a robot's graph (nor to another run); :func:`spinning`
serves a set of nodes from a background thread.
"""

from contextlib import contextmanager
import os
import threading
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor

WAIT_S = 60.0
"""Longest wait for something that should happen within milliseconds (a hang, not a timing)."""


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
        thread.join(timeout=WAIT_S)
        if thread.is_alive():  # destroying nodes under a spinning executor can crash rclpy
            raise RuntimeError(f'the spinning thread did not stop within {WAIT_S:g} s; the '
                               'nodes are left alive')
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


def publisher_matched(node, topic):
    """Whether ``node``'s publisher on the fully qualified ``topic`` has a subscriber."""
    return any(p.topic_name == topic and p.get_subscription_count() > 0 for p in node.publishers)
