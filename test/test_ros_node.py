"""
The DeFeat-Net node with real rclpy and DDS: the ROS interface of DESIGN.md, end to end.

Frames come from the synthetic street world; the model is a tiny random-weights DeFeatNet on
the PyTorch backend (quick to open). What a trained model would add (odometry that follows
the true trajectory) is tested analytically in test_ros_odometry.py with true relative motion.
"""

from pathlib import Path
import re
import subprocess
import sys

import cv2
from defeat_ros.camera.odometry import LOST_VARIANCE
from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.geometry import pixel_intrinsics_opencv, scale_intrinsics
from defeat_ros.messages.decode import parameter_intrinsics
from defeat_ros.messages.typestore import stamp_ns as stamps_ns
from defeat_ros.nets import ModelConfig, save_model
from defeat_ros.ros import parameters
from defeat_ros.ros.depth_node import ConfigurationError, default_model_candidates, DepthNode
from defeat_ros.ros.depth_node import OUTPUTS, resolve_model
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import numpy as np
import pytest
import rclpy
from rclpy.exceptions import ParameterException
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from ros_testing import camera_info_message, compressed_message, image_message, Probe
from ros_testing import publisher_matched, ros_context, spinning, stamp_ns, unique_namespace
from ros_testing import wait_for, WAIT_S
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
import torch
from untrained import untrained_model
import yaml

pytestmark = pytest.mark.ros_graph  # a pytest process of their own: see pytest.ini

CONFIG = ModelConfig(feature_dims=8, height=64, width=96, encoder_width=16)
WORLD = WorldConfig(width=96, height=64, frames=8, seed=3, fx=0.7, fy=2.0, cx=0.52, cy=0.48)
START = 1_700_000_000.0
OUTPUT_TYPES = {topic: kind for kind, topic in OUTPUTS.values()}
PARAMS_FILE = Path(__file__).resolve().parents[1] / 'config' / 'depth.yaml'


@pytest.fixture(scope='module')
def context():
    with ros_context() as context:
        yield context


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    return save_model(untrained_model(CONFIG), tmp_path_factory.mktemp('model') / 'model')


@pytest.fixture(scope='module')
def drive():
    sequence = render_sequence(WORLD)
    return sequence, images_uint8(sequence.images), stamps_ns(START, sequence.stamps)


def make_node(context, model_dir, namespace, cli_args=None, **overrides):
    values = {'model': str(model_dir), 'backend': 'pytorch', **overrides}
    return DepthNode(namespace=namespace, context=context, cli_args=cli_args,
                     parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])


def opencv_intrinsics(k_norm, height, width):
    return pixel_intrinsics_opencv(torch.as_tensor(k_norm), height, width)


def statuses(probe, namespace):
    """Return the node's diagnostic statuses received so far, oldest first."""
    name = f'{namespace}/defeat: perception'
    return [s for a in probe.messages('/diagnostics') for s in a.status if s.name == name]


def values(status):
    return {kv.key: kv.value for kv in status.values}


@pytest.fixture(scope='module')
def contract_run(context, model_dir, drive):
    """Stream the drive with camera_info, one frame at a time, then jump back in time."""
    sequence, images, stamps = drive
    namespace = unique_namespace('contract')
    node = make_node(context, model_dir, namespace)
    probe = Probe(context, namespace)
    for topic, kind in OUTPUT_TYPES.items():
        probe.listen(kind, topic)
    image_pub = probe.node.create_publisher(Image, 'image', 10)
    info_pub = probe.node.create_publisher(CameraInfo, 'camera_info', 10)
    fx, fy, cx, cy = opencv_intrinsics(sequence.k_norm, WORLD.height, WORLD.width)
    with spinning(context, node, probe.node):
        assert wait_for(lambda: publisher_matched(probe.node, f'{namespace}/image') and all(
            publisher_matched(node, f'{namespace}/{topic}') for topic in OUTPUT_TYPES))
        sent = list(range(len(images))) + [0]  # the repeat of frame 0 jumps back in time
        for count, index in enumerate(sent, 1):
            info_pub.publish(camera_info_message(fx, fy, cx, cy, WORLD.height, WORLD.width,
                                                 stamps[index]))
            image_pub.publish(image_message(images[index], 'rgb8', stamps[index]))
            assert wait_for(lambda: len(probe.messages('odometry')) >= count), \
                f'no odometry for frame {count}'
        assert wait_for(lambda: all(len(probe.messages(t)) >= len(sent) for t in OUTPUT_TYPES))
        received = {topic: probe.messages(topic) for topic in OUTPUT_TYPES}
    return received, [stamps[i] for i in sent], sequence, images


def test_depth_is_32fc1_metres_with_the_input_header(contract_run):
    received, stamps, _, _ = contract_run
    depths = received['depth/image']
    assert [stamp_ns(m) for m in depths] == stamps
    for message in depths:
        assert (message.encoding, message.height, message.width) == ('32FC1', 64, 96)
        assert message.header.frame_id == 'camera_optical'
        assert message.step == 4 * 96 and not message.is_bigendian
        depth = np.frombuffer(message.data, '<f4').reshape(64, 96)
        assert np.isfinite(depth).all()
        assert depth.min() >= CONFIG.min_depth * 0.999 and depth.max() <= CONFIG.max_depth


def test_depth_camera_info_carries_the_camera_intrinsics(contract_run):
    received, stamps, sequence, _ = contract_run
    infos = received['depth/camera_info']
    assert [stamp_ns(m) for m in infos] == stamps
    fx, fy, cx, cy = opencv_intrinsics(sequence.k_norm, 64, 96)
    last = infos[-1]  # camera_info was cached long before the last frames
    assert (last.height, last.width, last.header.frame_id) == (64, 96, 'camera_optical')
    np.testing.assert_allclose(last.k, [fx, 0, cx, 0, fy, cy, 0, 0, 1], atol=1e-3)


def test_features_are_unit_32fc8_with_their_camera_info(contract_run):
    received, stamps, sequence, _ = contract_run
    features, infos = received['features/image'], received['features/camera_info']
    assert [stamp_ns(m) for m in features] == [stamp_ns(m) for m in infos] == stamps
    message = features[-1]
    assert (message.encoding, message.height, message.width) == ('32FC8', 64, 96)
    assert message.step == 96 * 8 * 4
    vectors = np.frombuffer(message.data, '<f4').reshape(64, 96, 8)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=2), 1.0, atol=1e-4)
    fx, fy, cx, cy = opencv_intrinsics(sequence.k_norm, 64, 96)
    assert (infos[-1].height, infos[-1].width, infos[-1].header.frame_id) == \
        (64, 96, 'camera_optical')
    np.testing.assert_allclose(infos[-1].k, [fx, 0, cx, 0, fy, cy, 0, 0, 1], atol=1e-3)


def test_visuals_are_rgb8_images_for_rviz(contract_run):
    received, stamps, _, _ = contract_run
    for topic in ('depth/visual', 'features/visual'):
        assert [stamp_ns(m) for m in received[topic]] == stamps, topic
        message = received[topic][-1]
        assert (message.encoding, message.height, message.width, message.step) == \
            ('rgb8', 64, 96, 3 * 96)
        pixels = np.frombuffer(message.data, np.uint8)
        assert pixels.size == 64 * 96 * 3 and pixels.std() > 0


def test_points_are_the_depth_backprojected_with_colours(contract_run):
    received, stamps, sequence, images = contract_run
    clouds, depths = received['points'], received['depth/image']
    assert [stamp_ns(m) for m in clouds] == stamps
    cloud, depth_message = clouds[-2], depths[-2]  # the last frame of the drive
    assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == [
        ('x', 0, 7, 1), ('y', 4, 7, 1), ('z', 8, 7, 1), ('rgb', 12, 7, 1)]
    assert (cloud.height, cloud.width, cloud.point_step) == (16, 24, 16)  # stride 4
    assert cloud.row_step == 24 * 16 and len(cloud.data) == 16 * 24 * 16
    assert cloud.header.frame_id == 'camera_optical'
    points = np.frombuffer(cloud.data, '<f4').reshape(16, 24, 4)
    depth = np.frombuffer(depth_message.data, '<f4').reshape(64, 96)
    np.testing.assert_allclose(points[..., 2], depth[::4, ::4], rtol=1e-5)
    k_pix = scale_intrinsics(sequence.k_norm, 64, 96).numpy()
    columns = np.arange(0, 96, 4) + 0.5
    expected_x = (columns[None, :] - k_pix[0, 2]) / k_pix[0, 0] * depth[::4, ::4]
    np.testing.assert_allclose(points[..., 0], expected_x, rtol=1e-4, atol=1e-6)
    rgb = points[..., 3].copy().view('<u4')
    colours = images[-1][::4, ::4].astype(np.uint32)
    assert (rgb == (colours[..., 0] << 16) | (colours[..., 1] << 8) | colours[..., 2]).all()


def test_odometry_frames_stamps_and_honest_covariance(contract_run):
    received, stamps, _, _ = contract_run
    odometry = received['odometry']
    assert [stamp_ns(m) for m in odometry] == stamps
    for message in odometry:
        assert (message.header.frame_id, message.child_frame_id) == ('odom', 'base_link')
        q = message.pose.pose.orientation
        assert np.isclose(np.linalg.norm([q.x, q.y, q.z, q.w]), 1.0)
    first, tracked, jumped = odometry[0], odometry[1:-1], odometry[-1]
    # The first pose is the odom origin by definition (exact); its twist is unknown.
    assert not np.any(first.pose.covariance)
    assert np.allclose(np.diag(np.reshape(first.twist.covariance, (6, 6))), LOST_VARIANCE)
    assert all(np.reshape(m.pose.covariance, (6, 6)).max() < 1.0 for m in tracked)
    assert all(np.reshape(m.twist.covariance, (6, 6)).max() < LOST_VARIANCE for m in tracked)
    # The repeat of frame 0 jumped back in time: a new odom origin, tracking unknown.
    position = jumped.pose.pose.position
    assert (position.x, position.y, position.z) == (0.0, 0.0, 0.0)
    assert np.allclose(np.diag(np.reshape(jumped.twist.covariance, (6, 6))), LOST_VARIANCE)


def test_compressed_input_of_another_size_with_parameter_intrinsics(context, model_dir, drive):
    """JPEG and PNG on <remapped image>/compressed; no camera_info: the parameters are used."""
    _, images, stamps = drive
    namespace = unique_namespace('compressed')
    node = make_node(context, model_dir, namespace, cli_args=['--ros-args', '-r',
                                                              'image:=image_raw'],
                     image_transport='compressed', output_resolution='model')
    assert node.image_topic == f'{namespace}/image_raw/compressed'
    probe = Probe(context, namespace)
    probe.listen(Image, 'depth/image')
    probe.listen(CameraInfo, 'depth/camera_info')
    publisher = probe.node.create_publisher(CompressedImage, 'image_raw/compressed', 10)
    big = [cv2.resize(image, (144, 96), interpolation=cv2.INTER_LINEAR) for image in images]
    with spinning(context, node, probe.node):
        assert wait_for(lambda: publisher_matched(probe.node, node.image_topic)
                        and publisher_matched(node, f'{namespace}/depth/camera_info'))
        for index, (suffix, name) in enumerate([('.jpg', 'jpeg'), ('.png', 'png')]):
            _, data = cv2.imencode(suffix, cv2.cvtColor(big[index], cv2.COLOR_RGB2BGR))
            publisher.publish(compressed_message(data, stamps[index], image_format=name))
            assert wait_for(lambda: len(probe.messages('depth/camera_info')) > index)
        assert wait_for(lambda: len(probe.messages('depth/image')) >= 2)
        depths, infos = probe.messages('depth/image'), probe.messages('depth/camera_info')
    assert [stamp_ns(m) for m in depths] == stamps[:2]
    assert all((m.height, m.width) == (64, 96) for m in depths)  # output_resolution: model
    defaults = {s.name: s.default for s in parameters.PARAMETERS}
    k_norm = parameter_intrinsics(defaults['fx'], defaults['fy'], defaults['cx'], defaults['cy'])
    fx, fy, cx, cy = opencv_intrinsics(k_norm, 64, 96)
    np.testing.assert_allclose(infos[-1].k, [fx, 0, cx, 0, fy, cy, 0, 0, 1], atol=1e-3)


@pytest.mark.parametrize('overrides,features_size', [
    ({}, (64, 96)),  # features_resolution 'model' (the default): the network's size
    ({'features_resolution': 'input'}, (96, 144)),
], ids=['default', 'input'])
def test_each_image_topic_pairs_with_the_camera_info_beside_it(context, model_dir, drive,
                                                               overrides, features_size):
    """
    image_transport's layout: ``<name>/image`` and ``<name>/camera_info`` at the same size.

    Input frames are 144 x 96, the network 96 x 64: depth comes at the input's size
    (output_resolution 'input'), the features at ``features_size``, each with its intrinsics.
    """
    sequence, images, stamps = drive
    namespace = unique_namespace('layout')
    node = make_node(context, model_dir, namespace, **overrides)
    probe = Probe(context, namespace)
    topics = {'depth/image': Image, 'depth/camera_info': CameraInfo, 'depth/visual': Image,
              'features/image': Image, 'features/camera_info': CameraInfo,
              'features/visual': Image}
    for topic, kind in topics.items():
        probe.listen(kind, topic)
    image_pub = probe.node.create_publisher(Image, 'image', 10)
    info_pub = probe.node.create_publisher(CameraInfo, 'camera_info', 10)
    big = [cv2.resize(image, (144, 96), interpolation=cv2.INTER_LINEAR) for image in images[:3]]
    with spinning(context, node, probe.node):
        assert wait_for(lambda: publisher_matched(probe.node, f'{namespace}/image') and all(
            publisher_matched(node, f'{namespace}/{topic}') for topic in topics))
        for index, pixels in enumerate(big):
            info_pub.publish(camera_info_message(*opencv_intrinsics(sequence.k_norm, 96, 144),
                                                 96, 144, stamps[index]))
            image_pub.publish(image_message(pixels, 'rgb8', stamps[index]))
            assert wait_for(lambda: all(len(probe.messages(t)) > index for t in topics)), \
                f'not every output came for frame {index}'
        received = {topic: probe.messages(topic) for topic in topics}
    for name, size, encoding in [('depth', (96, 144), '32FC1'),
                                 ('features', features_size, '32FC8')]:
        pictures, infos = received[f'{name}/image'], received[f'{name}/camera_info']
        assert [stamp_ns(m) for m in pictures] == [stamp_ns(m) for m in infos] == stamps[:3]
        for picture, info, visual in zip(pictures, infos, received[f'{name}/visual']):
            assert (picture.encoding, picture.height, picture.width) == (encoding, *size)
            assert (info.height, info.width) == (picture.height, picture.width) == \
                (visual.height, visual.width), name
            assert info.header.frame_id == picture.header.frame_id == 'camera_optical'
        fx, fy, cx, cy = opencv_intrinsics(sequence.k_norm, *size)
        np.testing.assert_allclose(infos[-1].k, [fx, 0, cx, 0, fy, cy, 0, 0, 1], atol=1e-3)


def test_bad_frames_give_a_diagnostics_error_and_the_node_keeps_going(
        context, model_dir, drive):
    _, images, stamps = drive
    namespace = unique_namespace('bad_input')
    node = make_node(context, model_dir, namespace)
    probe = Probe(context, namespace)
    probe.listen(Image, 'depth/image')
    probe.listen(DiagnosticArray, '/diagnostics')
    publisher = probe.node.create_publisher(Image, 'image', 10)
    float_depth = np.zeros((64, 96, 4), np.uint8)  # a 32FC1 depth image is no camera image
    truncated = image_message(images[1], 'rgb8', stamps[1])
    truncated.data = bytes(truncated.data)[:1000]
    with spinning(context, node, probe.node):
        assert wait_for(lambda: publisher_matched(probe.node, f'{namespace}/image')
                        and publisher_matched(node, f'{namespace}/depth/image'))
        for bad, words in [(image_message(float_depth, '32FC1', stamps[0]), '32FC1'),
                           (truncated, 'bytes')]:
            publisher.publish(bad)
            assert wait_for(lambda: any(
                s.level == DiagnosticStatus.ERROR and words in s.message
                for s in statuses(probe, namespace))), f'no diagnostics ERROR about {words}'
        publisher.publish(image_message(images[2], 'bgr8', stamps[2]))
        assert wait_for(lambda: len(probe.messages('depth/image')) == 1)
        assert stamp_ns(probe.messages('depth/image')[0]) == stamps[2]
        assert wait_for(lambda: any(values(s)['errors'] == '2' and values(s)['frames processed']
                                    == '1' for s in statuses(probe, namespace)))


def test_a_burst_drops_frames_instead_of_queueing(context, model_dir, drive):
    _, images, _ = drive
    namespace = unique_namespace('burst')
    node = make_node(context, model_dir, namespace)
    probe = Probe(context, namespace)
    probe.listen(Image, 'depth/image')
    probe.listen(DiagnosticArray, '/diagnostics')
    publisher = probe.node.create_publisher(Image, 'image', 100)
    stamps = [int(START * 1e9) + i * 10 ** 8 for i in range(20)]
    burst = [image_message(images[i % len(images)], 'rgb8', s) for i, s in enumerate(stamps)]

    def report():
        """Return the latest diagnostics that account for every depth output so far."""
        for status in reversed(statuses(probe, namespace)):
            if int(values(status)['frames processed']) == len(probe.messages('depth/image')):
                return values(status)
        return None

    with spinning(context, node, probe.node):
        assert wait_for(lambda: publisher_matched(probe.node, f'{namespace}/image')
                        and publisher_matched(node, f'{namespace}/depth/image'))
        for message in burst:
            publisher.publish(message)
        assert wait_for(lambda: stamps[-1] in [stamp_ns(m) for m in
                                               probe.messages('depth/image')]), \
            'the newest frame of the burst was never processed'
        assert wait_for(lambda: report() is not None and int(report()['dropped frames']) > 0)
        outputs = [stamp_ns(m) for m in probe.messages('depth/image')]
        summary = report()
    print(f'burst of 20: node received {summary["frames received"]}, processed '
          f'{summary["frames processed"]}, dropped {summary["dropped frames"]}')
    refined, computed = re.fullmatch(r'direct: (\d+) of (\d+) relative poses refined',
                                     summary['pose refinement']).groups()
    assert int(refined) <= int(computed) < int(summary['frames processed'])
    assert len(outputs) < len(stamps)
    assert outputs == sorted(outputs)
    assert outputs[-1] == stamps[-1], 'the newest frame was not the last one processed'


def test_read_only_and_invalid_parameters_are_rejected_over_ros(context, model_dir):
    namespace = unique_namespace('params')
    node = make_node(context, model_dir, namespace)
    probe = Probe(context, namespace)
    client = AsyncParameterClient(probe.node, f'{namespace}/defeat')

    def call(*assignments):
        future = client.set_parameters([Parameter(k, value=v) for k, v in assignments])
        assert wait_for(future.done), 'set_parameters got no answer'
        return future.result().results

    with spinning(context, node, probe.node):
        assert client.wait_for_services(timeout_sec=WAIT_S)
        results = call(('model', '/elsewhere'), ('backend', 'onnxruntime'),
                       ('precision', 'fp16'), ('image_transport', 'compressed'),
                       ('point_stride', 2), ('output_resolution', 'huge'))
        for result in results[:4]:
            assert not result.successful and 'read-only' in result.reason
        assert results[4].successful
        assert not results[5].successful and 'input, model' in results[5].reason
        assert not call(('point_stride', 0))[0].successful  # outside the descriptor's range
        assert node.get_parameter('point_stride').value == 2
        assert node.get_parameter('model').value == str(model_dir)


def test_every_parameter_of_the_yaml_is_declared_with_its_default(context, model_dir):
    """config/depth.yaml and the node agree on names and defaults; every one is described."""
    (block,) = yaml.safe_load(PARAMS_FILE.read_text()).values()
    from_yaml = block['ros__parameters']
    node = make_node(context, model_dir, unique_namespace('yaml'))
    bare = rclpy.create_node('bare', namespace=unique_namespace('yaml'), context=context)
    try:
        builtin = set(bare.get_parameters_by_prefix(''))  # use_sim_time, ...
        declared = set(node.get_parameters_by_prefix('')) - builtin
        assert declared == set(from_yaml)
        defaults = {s.name: s.default for s in parameters.PARAMETERS}
        assert defaults == from_yaml
        for name in declared:
            assert node.describe_parameter(name).description, name
        read_only = {n for n in declared if node.describe_parameter(n).read_only}
        assert {'model', 'backend', 'precision'} <= read_only
    finally:
        node.destroy_node()
        bare.destroy_node()


@pytest.mark.parametrize('overrides,words', [
    ({'model': '/nonexistent/model'}, 'parameter model'),
    ({'input_qos': 'FAST'}, 'input_qos'),
    ({'backend': 'cuda-magic'}, 'backend'),
    ({'point_stride': 0}, 'point_stride'),
    ({'device': 'gpu0'}, 'device'),
])
def test_bad_configuration_is_a_clear_error(context, model_dir, overrides, words):
    with pytest.raises((ConfigurationError, ParameterException)) as error:
        make_node(context, model_dir, unique_namespace('config'), **overrides)
    assert words in str(error.value)


def test_an_empty_model_parameter_means_the_first_default_model_found(tmp_path, monkeypatch):
    """The installed share folder's models/default wins over the sources'; none is an error."""
    from defeat_ros.camera import model_location
    sources = Path(__file__).resolve().parents[1] / 'models' / 'default'
    assert default_model_candidates()[-1] == sources
    assert (resolve_model('') / 'config.json').is_file()  # the repository ships a model
    installed, source = tmp_path / 'share' / 'default', tmp_path / 'src' / 'default'
    monkeypatch.setattr(model_location, 'default_model_candidates', lambda: [installed, source])
    with pytest.raises(ConfigurationError, match='parameter model is empty') as error:
        resolve_model('')
    assert str(installed) in str(error.value) and str(source) in str(error.value)
    for directory in (source, installed):
        directory.mkdir(parents=True)
        (directory / 'config.json').write_text('{}')
        assert resolve_model('') == directory


def test_executable_without_a_model_exits_nonzero_naming_the_parameter(tmp_path):
    result = subprocess.run(
        [sys.executable, '-m', 'defeat_ros.ros.depth_node', '--ros-args', '-p',
         f'model:={tmp_path / "missing"}'],
        capture_output=True, text=True, timeout=WAIT_S, stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    assert 'parameter model' in result.stderr + result.stdout


def test_unused_outputs_are_not_computed(context, model_dir, drive, monkeypatch):
    """
    Features run only for a subscriber, and publish_features switches them off again.

    Depth and odometry go out for every frame; features and points only while someone
    subscribes and their parameter is on. The count of feature inferences shows what ran.
    """
    _, images, stamps = drive
    namespace = unique_namespace('lazy')
    node = make_node(context, model_dir, namespace)
    backend, inferred = node.perception.backend, []
    both = backend.depth_and_features
    monkeypatch.setattr(backend, 'depth_and_features',
                        lambda image: inferred.append(1) or both(image))
    probe = Probe(context, namespace)
    probe.listen(Image, 'depth/image')
    probe.listen(OUTPUT_TYPES['odometry'], 'odometry')
    publisher = probe.node.create_publisher(Image, 'image', 10)

    def send(index):
        """Publish frame ``index``; return once its depth and odometry are here."""
        publisher.publish(image_message(images[index], 'rgb8', stamps[index]))
        assert wait_for(lambda: len(probe.messages('depth/image')) > index
                        and len(probe.messages('odometry')) > index)

    with spinning(context, node, probe.node):
        assert wait_for(lambda: publisher_matched(probe.node, f'{namespace}/image')
                        and publisher_matched(node, f'{namespace}/depth/image')
                        and publisher_matched(node, f'{namespace}/odometry'))
        send(0)
        assert inferred == []  # nobody listens to features, visuals or points
        probe.listen(Image, 'features/image')
        probe.listen(OUTPUT_TYPES['points'], 'points')
        assert wait_for(lambda: publisher_matched(node, f'{namespace}/features/image')
                        and publisher_matched(node, f'{namespace}/points'))
        send(1)
        assert wait_for(lambda: len(probe.messages('features/image')) == 1
                        and len(probe.messages('points')) == 1)
        assert inferred == [1]
        node.set_parameters([Parameter('publish_features', value=False),
                             Parameter('publish_points', value=False)])
        send(2)
        assert inferred == [1]  # still subscribed, but switched off
        assert not wait_for(lambda: len(probe.messages('features/image')) > 1
                            or len(probe.messages('points')) > 1, timeout=1.0)
