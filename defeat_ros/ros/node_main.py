"""
The ``main`` of every executable node: start, spin until SIGINT or SIGTERM, exit cleanly.

rclpy's own signal handler shuts the context down the moment Ctrl-C arrives, while the node's
worker threads may be in the middle of publishing: under load that printed tracebacks
('Unable to convert call argument', "'Task' object has no attribute '_exception'"). Here
SIGINT and SIGTERM only ask the spin loop to stop; the node is then destroyed (joining its
threads) before the context shuts down. A second signal while shutting down interrupts the
cleanup.
"""

import signal
import threading

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.logging import get_logger
from rclpy.signals import SignalHandlerOptions

SPIN_TIMEOUT_S = 0.1
"""Longest wait for work in one spin step: how soon a signal is acted upon."""

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def spin_until(node, stopping):
    """Spin ``node`` until ``stopping`` (a threading.Event) is set or rclpy shuts down."""
    while not stopping.is_set() and node.context.ok():
        rclpy.spin_once(node, timeout_sec=SPIN_TIMEOUT_S)


def stop_on_signals(stopping):
    """Make SIGINT and SIGTERM set ``stopping``; a second one raises KeyboardInterrupt."""
    def handle(signum, frame):
        if stopping.is_set():
            raise KeyboardInterrupt
        stopping.set()
    for signum in STOP_SIGNALS:
        signal.signal(signum, handle)


def run_node(make_node, node_name, startup_errors, spin=spin_until, args=None):
    """
    Initialise rclpy, build the node, spin it until a stop signal, and always clean up.

    :param make_node: callable returning the node.
    :param node_name: the node's name, for the fatal start-up log line.
    :param startup_errors: exception types that mean the node cannot start (a clear message
        and exit status 1, no traceback).
    :param spin: callable(node, stopping) spinning the node until it is done or ``stopping``
        (a threading.Event, set by SIGINT or SIGTERM) is set.
    :param args: command-line arguments for rclpy (None: sys.argv).
    :return: process exit status: 0, or 1 when the node could not start.
    """
    stopping = threading.Event()
    stop_on_signals(stopping)
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    try:
        try:
            node = make_node()
        except startup_errors as error:
            get_logger(node_name).fatal(f'cannot start: {error}')
            return 1
        try:
            spin(node, stopping)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            node.destroy_node()
    except KeyboardInterrupt:
        pass
    finally:
        rclpy.try_shutdown()
    return 0
