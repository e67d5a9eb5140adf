"""
Play a bag through the DeFeat-Net node into a recorder: three real nodes in this process.

``bag_player`` (with ``/clock``) -> ``defeat_node`` (in :data:`NAMESPACE`, on simulated time,
``image`` remapped to ``image_raw``) -> :class:`~defeat_ros.ros.bag_recorder.BagRecorder`, on a
private DDS graph (:func:`~defeat_ros.ros.graph.ros_context`). What ``defeat-ros demo`` runs;
also a way to turn a bag into results through the very node a robot runs.
"""

from pathlib import Path
import shutil
import time

from defeat_ros.messages.typestore import CAMERA_INFO, IMAGE, ODOMETRY
from defeat_ros.ros.bag_player import BagPlayer
from defeat_ros.ros.bag_recorder import BagRecorder
from defeat_ros.ros.depth_node import DepthNode
from defeat_ros.ros.graph import publisher_matched, ros_context, spinning, wait_for
from rclpy.parameter import Parameter

NAMESPACE = '/camera'
RESULT_TOPICS = {
    f'{NAMESPACE}/depth/image': IMAGE,
    f'{NAMESPACE}/depth/camera_info': CAMERA_INFO,
    f'{NAMESPACE}/features/visual': IMAGE,
    f'{NAMESPACE}/features/camera_info': CAMERA_INFO,
    f'{NAMESPACE}/odometry': ODOMETRY,
    f'{NAMESPACE}/points': 'sensor_msgs/msg/PointCloud2',
}
"""What the recorder keeps: every output of the node but the raw feature maps."""
SETTLE_S = 3.0
"""After playback, wait until no result has arrived for this long (the node finishing)."""


def run_graph(drive, results, model, backend, rate, timeout=600.0):
    """
    Play ``drive`` into the DeFeat-Net node and record its outputs into ``results``.

    :param timeout: longest wait (s) for playback, and then for the node to finish.
    :return: dict of messages played, results recorded per topic, seconds from the start of
        playback to the last result, and the node's backend.
    """
    results = Path(results)
    shutil.rmtree(results, ignore_errors=True)
    results.parent.mkdir(parents=True, exist_ok=True)
    values = {'model': str(model), 'backend': backend, 'use_sim_time': True,
              'output_resolution': 'input'}
    with ros_context() as context:
        node = DepthNode(namespace=NAMESPACE, context=context,
                         parameter_overrides=[Parameter(k, value=v) for k, v in values.items()],
                         cli_args=['--ros-args', '-r', 'image:=image_raw'])
        player = BagPlayer(context=context, parameter_overrides=[
            Parameter('bag', value=str(drive)), Parameter('rate', value=float(rate))])
        recorder = BagRecorder(results, RESULT_TOPICS, context=context)
        with spinning(context, node, player, recorder):
            ready = wait_for(lambda: all(publisher_matched(node, t) for t in RESULT_TOPICS)
                             and publisher_matched(player, f'{NAMESPACE}/image_raw'))
            if not ready:
                raise RuntimeError('the demo nodes did not discover each other over DDS')
            start = time.monotonic()
            player.start()
            player.finished.wait(timeout)
            settled = lambda: time.monotonic() - recorder.last_message > SETTLE_S  # noqa: E731
            wait_for(settled, timeout=timeout)
            seconds = recorder.last_message - start
            backend = node.perception.backend.name
        recorder.close()
    return {'messages_played': player.played, 'recorded': dict(recorder.counts),
            'seconds': seconds, 'backend': backend}
