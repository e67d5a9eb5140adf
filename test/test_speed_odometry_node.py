"""
The node's odometry in ``scale_mode`` speed (real rclpy and DDS): steps as long as the wheel says.

A wheel odometry publishes a constant 5 m/s on its own topic, so every 0.1 s step of the
camera is 0.5 m, whatever the untrained network predicts; when the wheel falls silent the steps
keep the network's length (times the smoothed scale), and the diagnostics count both kinds.
With the camera mounted at the base's origin a step of the camera is a step of the base.
"""

from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.geometry import pixel_intrinsics_opencv
from defeat_ros.nets import ModelConfig, save_model
from defeat_ros.ros.depth_node import DepthNode
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
import numpy as np
import pytest
from rclpy.parameter import Parameter
from ros_testing import camera_info_message, image_message, Probe, publisher_matched
from ros_testing import ros_context, set_stamp, spinning, stamp_ns, unique_namespace, wait_for
from sensor_msgs.msg import CameraInfo, Image
import torch
from untrained import untrained_model

pytestmark = pytest.mark.ros_graph  # a pytest process of their own: see pytest.ini

WORLD = WorldConfig(width=160, height=64, frames=12, seed=21)
PERIOD_NS = 100_000_000
SPEED = 5.0
WITH_SPEED = 6
"""Frames published while the wheel reports; the later ones lie beyond its last measurement."""


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    config = ModelConfig(feature_dims=8, height=64, width=96, encoder_width=16)
    return save_model(untrained_model(config), tmp_path_factory.mktemp('model') / 'model')


def make_node(context, model_dir, namespace, **overrides):
    values = {'model': str(model_dir), 'backend': 'onnxruntime', 'camera_z': 0.0,
              **overrides}
    return DepthNode(namespace=namespace, context=context,
                     parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])


def diagnostic_value(probe, key):
    """Return the latest value of ``key`` in the node's perception status (None before one)."""
    values = [v.value for a in probe.messages('/diagnostics') for s in a.status
              if s.name.endswith('defeat: perception') for v in s.values if v.key == key]
    return values[-1] if values else None


def test_odometry_steps_take_their_length_from_the_speed_topic(model_dir):
    drive = render_sequence(WORLD)
    intrinsics = pixel_intrinsics_opencv(drive.k_norm, WORLD.height, WORLD.width)
    namespace = unique_namespace('speed_odometry')
    with ros_context() as context:
        node = make_node(context, model_dir, namespace, scale_mode='speed',
                         speed_topic='wheel_odometry')
        probe = Probe(context, namespace)
        probe.listen(Odometry, 'odometry')
        probe.listen(DiagnosticArray, '/diagnostics')
        image_pub = probe.node.create_publisher(Image, 'image', 10)
        info_pub = probe.node.create_publisher(CameraInfo, 'camera_info', 10)
        speed_pub = probe.node.create_publisher(Odometry, 'wheel_odometry', 10)
        with spinning(context, node, probe.node):
            assert wait_for(lambda: publisher_matched(probe.node, f'{namespace}/image')
                            and publisher_matched(probe.node, f'{namespace}/wheel_odometry')
                            and publisher_matched(node, f'{namespace}/odometry'))
            for index, image in enumerate(images_uint8(drive.images)):
                stamp = (index + 1) * PERIOD_NS
                if index < WITH_SPEED:  # measured just before the frame: the node holds it
                    wheel = Odometry()
                    set_stamp(wheel, stamp - PERIOD_NS // 10, 'odom')
                    wheel.twist.twist.linear.x = SPEED
                    speed_pub.publish(wheel)
                    assert wait_for(lambda: node._speeds.newest_ns() == stamp - PERIOD_NS // 10)
                info_pub.publish(camera_info_message(*intrinsics, WORLD.height, WORLD.width,
                                                     stamp))
                image_pub.publish(image_message(image, 'rgb8', stamp))
                assert wait_for(lambda: len(probe.messages('odometry')) > index), 'no odometry'
            computed = len(drive.images) - 1
            assert wait_for(lambda: diagnostic_value(probe, 'steps from vehicle speed')
                            == f'{WITH_SPEED - 1 + 4} of {computed}')
            assert node.perception.metric_source == 'vehicle speed'
    odometry = sorted(probe.messages('odometry'), key=stamp_ns)
    positions = np.array([[m.pose.pose.position.x, m.pose.pose.position.y,
                           m.pose.pose.position.z] for m in odometry])
    steps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    # The last measurement (at 0.59 s) holds for 0.5 s: frames up to 1.0 s have their speed.
    assert steps[:WITH_SPEED - 1 + 4] == pytest.approx(SPEED * PERIOD_NS * 1e-9)
    assert steps[-1] != pytest.approx(SPEED * PERIOD_NS * 1e-9)


def test_speed_scale_needs_a_speed_topic(model_dir):
    with ros_context() as context:
        with pytest.raises(ValueError, match='speed_topic'):
            make_node(context, model_dir, unique_namespace('no_speed'), scale_mode='speed')
        node = make_node(context, model_dir, unique_namespace('no_speed'))
        try:
            result = node.set_parameters([Parameter('scale_mode', value='speed')])[0]
            assert not result.successful and 'speed_topic' in result.reason
            assert node.set_parameters([Parameter('scale_mode',
                                                  value='camera_height')])[0].successful
        finally:
            node.destroy_node()
