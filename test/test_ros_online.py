"""
Online fine-tuning inside the running node (real rclpy and DDS): swaps without gaps, speed.

A small untrained model learns quickly on a synthetic drive, so the node's background
fine-tuning swaps improved weights in while depth keeps coming for every frame.
"""

from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.geometry import pixel_intrinsics_opencv
from defeat_ros.messages.typestore import stamp_ns as stamps_ns
from defeat_ros.nets import ModelConfig, save_model
from defeat_ros.ros.depth_node import DepthNode
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from nav_msgs.msg import Odometry
import pytest
from rclpy.parameter import Parameter
from ros_testing import camera_info_message, image_message, Probe, publisher_matched
from ros_testing import ros_context, set_stamp, spinning, stamp_ns, unique_namespace, wait_for
from sensor_msgs.msg import CameraInfo, Image
import torch
from untrained import untrained_model

pytestmark = pytest.mark.ros_graph  # a pytest process of their own: see pytest.ini

WORLD = WorldConfig(width=96, height=64, frames=24, seed=11)
PERIOD_S = 0.2


def online_statuses(probe, namespace):
    name = f'{namespace}/defeat: online fine-tuning'
    return [s for a in probe.messages('/diagnostics') for s in a.status if s.name == name]


def swaps(probe, namespace):
    found = online_statuses(probe, namespace)
    return int({kv.key: kv.value for kv in found[-1].values}['swaps']) if found else 0


def online_setup(tmp_path, **settings):
    """
    Return (parameter overrides, RGB frames, camera intrinsics in pixels) of an online node.

    The model is small and untrained; ``settings`` add to or replace the online parameters.
    """
    torch.manual_seed(0)
    model = save_model(untrained_model(ModelConfig(height=64, width=96, encoder_width=16,
                                                   feature_dims=8)), tmp_path / 'model')
    sequence = render_sequence(WORLD)
    intrinsics = pixel_intrinsics_opencv(sequence.k_norm, WORLD.height, WORLD.width)
    settings = {'model': str(model), 'backend': 'pytorch', 'online_finetune': True,
                'online_checkpoint_dir': str(tmp_path / 'online'), 'online_step_rate': 20.0,
                **settings}
    return ([Parameter(k, value=v) for k, v in settings.items()],
            images_uint8(sequence.images), intrinsics, sequence)


def test_online_mode_swaps_and_keeps_publishing(tmp_path):
    overrides, images, (fx, fy, cx, cy), sequence = online_setup(
        tmp_path, online_validate_every=4, online_learning_rate=1e-3)
    namespace = unique_namespace('online')
    with ros_context() as context:
        node = DepthNode(namespace=namespace, context=context, parameter_overrides=overrides)
        probe = Probe(context, namespace)
        probe.listen(Image, 'depth/image')
        probe.listen(DiagnosticArray, '/diagnostics')
        image_pub = probe.node.create_publisher(Image, 'image', 10)
        info_pub = probe.node.create_publisher(CameraInfo, 'camera_info', 10)
        sent = []
        with spinning(context, node, probe.node):
            assert wait_for(lambda: publisher_matched(probe.node, f'{namespace}/image')
                            and publisher_matched(node, f'{namespace}/depth/image'))
            stamp = stamps_ns(0.0, sequence.stamps)[0]
            while swaps(probe, namespace) < 1 and len(sent) < 600:
                index = len(sent) % len(images)
                stamp += int(PERIOD_S * 1e9)
                info_pub.publish(camera_info_message(fx, fy, cx, cy, WORLD.height, WORLD.width,
                                                     stamp))
                image_pub.publish(image_message(images[index], 'rgb8', stamp))
                sent.append(stamp)
                assert wait_for(lambda: sent[-1] in {stamp_ns(m) for m in
                                                     probe.messages('depth/image')}, timeout=30), \
                    f'no depth for frame {len(sent)}'
    status = online_statuses(probe, namespace)[-1]
    assert swaps(probe, namespace) >= 1, status.message
    assert status.level == DiagnosticStatus.OK and 'swapped in' in status.message
    assert [stamp_ns(m) for m in probe.messages('depth/image')] == sent
    assert sorted(p.name for p in (tmp_path / 'online').iterdir())[0].startswith('step_')


def test_speed_topic_gives_the_fine_tuning_metric_scale(tmp_path):
    """The copy rescaled to metres by the speed is swapped into the running node."""
    overrides, images, (fx, fy, cx, cy), sequence = online_setup(
        tmp_path, online_validate_every=1000, speed_topic='wheel_odometry')
    namespace = unique_namespace('online_speed')
    with ros_context() as context:
        node = DepthNode(namespace=namespace, context=context, parameter_overrides=overrides)
        probe = Probe(context, namespace)
        probe.listen(Image, 'depth/image')
        image_pub = probe.node.create_publisher(Image, 'image', 10)
        info_pub = probe.node.create_publisher(CameraInfo, 'camera_info', 10)
        speed_pub = probe.node.create_publisher(Odometry, 'wheel_odometry', 10)
        with spinning(context, node, probe.node):
            assert wait_for(lambda: publisher_matched(probe.node, f'{namespace}/image')
                            and publisher_matched(probe.node, f'{namespace}/wheel_odometry'))

            def publish_speed(at):
                odometry = Odometry()
                set_stamp(odometry, at, 'odom')
                odometry.twist.twist.linear.x = 5.0
                speed_pub.publish(odometry)

            stamp = stamps_ns(0.0, sequence.stamps)[0]
            half_period = int(PERIOD_S / 2 * 1e9)
            publish_speed(stamp + half_period)  # the measurement before the first frame
            for index in range(len(images)):
                stamp += int(PERIOD_S * 1e9)
                info_pub.publish(camera_info_message(fx, fy, cx, cy, WORLD.height, WORLD.width,
                                                     stamp))
                image_pub.publish(image_message(images[index], 'rgb8', stamp))
                assert wait_for(lambda: stamp in {stamp_ns(m) for m in
                                                  probe.messages('depth/image')}, timeout=30)
                # The speed measured after the frame arrives after the node processed it (a
                # driver slower than the network): the frame waits for it.
                publish_speed(stamp + half_period)
            tuner = node._online
            assert wait_for(lambda: tuner.stats.swaps >= 1, timeout=180), tuner.stats
            stats = tuner.stats
            config = tuner.model.config
            running = node.perception.config
    assert stats.with_speed == stats.triplets > 0
    # every training tuple moved 5 m/s x 0.2 s to each neighbour
    assert all(distances.tolist() == [1.0, 1.0] for _, _, distances, _ in tuner._train)
    assert config.metric_scale == 'velocity' and 'speed_scale_factor' in config.provenance
    # the node runs the rescaled weights: another unit of depth than the model it started with
    assert running.metric_scale == 'velocity' and running.max_depth == config.max_depth != 100.0
