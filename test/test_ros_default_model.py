"""
The node with the shipped default model (real rclpy and DDS): odometry follows the true path.

An unseen synthetic drive is streamed frame by frame with its camera_info; the odometry the
node publishes must head where the camera really went (the default model was trained on other
streets of the same world).
"""

from defeat_ros.data.body_motion import body_trajectory
from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.geometry import pixel_intrinsics_opencv
from defeat_ros.messages.typestore import stamp_ns as stamps_ns
from defeat_ros.ros.depth_node import DepthNode
from nav_msgs.msg import Odometry
import numpy as np
import pytest
from rclpy.parameter import Parameter
from ros_testing import camera_info_message, image_message, Probe, publisher_matched
from ros_testing import ros_context, spinning, unique_namespace, wait_for
from sensor_msgs.msg import CameraInfo, Image

pytestmark = pytest.mark.ros_graph  # a pytest process of their own: see pytest.ini

WORLD = WorldConfig(width=320, height=96, frames=16, seed=321)


def test_default_model_odometry_heads_along_the_true_trajectory():
    sequence = render_sequence(WORLD)
    images = images_uint8(sequence.images)
    stamps = stamps_ns(1_700_000_000.0, sequence.stamps)
    fx, fy, cx, cy = pixel_intrinsics_opencv(sequence.k_norm, WORLD.height, WORLD.width)
    namespace = unique_namespace('default_model')
    with ros_context() as context:
        node = DepthNode(namespace=namespace, context=context, parameter_overrides=[
            Parameter('backend', value='pytorch'), Parameter('max_gap_s', value=3600.0)])
        probe = Probe(context, namespace)
        probe.listen(Odometry, 'odometry')
        image_pub = probe.node.create_publisher(Image, 'image', 10)
        info_pub = probe.node.create_publisher(CameraInfo, 'camera_info', 10)
        with spinning(context, node, probe.node):
            assert wait_for(lambda: publisher_matched(probe.node, f'{namespace}/image')
                            and publisher_matched(node, f'{namespace}/odometry'))
            for count, (image, stamp) in enumerate(zip(images, stamps), 1):
                info_pub.publish(camera_info_message(fx, fy, cx, cy, WORLD.height,
                                                     WORLD.width, stamp))
                image_pub.publish(image_message(image, 'rgb8', stamp))
                assert wait_for(lambda: len(probe.messages('odometry')) >= count)
    odometry = probe.messages('odometry')
    predicted = np.array([[m.pose.pose.position.x, m.pose.pose.position.y,
                           m.pose.pose.position.z] for m in odometry])
    truth = body_trajectory(sequence.poses)[:, :3, 3].numpy()
    steps_predicted = np.diff(predicted, axis=0)
    steps_true = np.diff(truth, axis=0)
    cosines = np.sum(steps_predicted * steps_true, axis=1) / (
        np.linalg.norm(steps_predicted, axis=1) * np.linalg.norm(steps_true, axis=1) + 1e-12)
    assert np.median(cosines) > 0.9, cosines
    heading = predicted[-1] / np.linalg.norm(predicted[-1])
    assert heading @ (truth[-1] / np.linalg.norm(truth[-1])) > 0.9, (predicted[-1], truth[-1])
