"""The ``main`` of every executable node: start, spin until shutdown, exit status."""

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.logging import get_logger


def run_node(make_node, node_name, startup_errors, spin=rclpy.spin, args=None):
    """
    Initialise rclpy, build the node, spin it, and always clean up.

    :param make_node: callable returning the node.
    :param node_name: the node's name, for the fatal start-up log line.
    :param startup_errors: exception types that mean the node cannot start (a clear message
        and exit status 1, no traceback).
    :param spin: callable spinning the node until it is done or rclpy shuts down.
    :param args: command-line arguments for rclpy (None: sys.argv).
    :return: process exit status: 0, or 1 when the node could not start.
    """
    rclpy.init(args=args)
    try:
        try:
            node = make_node()
        except startup_errors as error:
            get_logger(node_name).fatal(f'cannot start: {error}')
            return 1
        try:
            spin(node)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown()
    return 0
