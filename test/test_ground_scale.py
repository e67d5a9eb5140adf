"""
Metric scale from the camera height: the ground-plane fit, its smoothing, Perception and node.

The fit is checked on the exact depth of synthetic street frames (true mounting height 1.65 m,
within the drive's 1.5 cm bounce) multiplied by an arbitrary factor, so nothing here depends on
how well a model predicts depth. Perception runs a random-weights model on its real backend.
"""

import math

from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.geometry import pixel_intrinsics_opencv
from defeat_ros.ground_plane import fit_ground_plane, ground_points
from defeat_ros.nets import DeFeatNet, ModelConfig, save_model
from defeat_ros.ros.depth_node import DepthNode
from defeat_ros.runtime.ground_scale import GroundScale
from defeat_ros.runtime.perception import Perception
import numpy as np
import pytest
from rclpy.exceptions import ParameterException
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from ros_testing import camera_info_message, image_message, Probe, publisher_matched
from ros_testing import ros_context, spinning, unique_namespace, wait_for, WAIT_S
from sensor_msgs.msg import CameraInfo, Image
import torch

pytestmark = pytest.mark.ros_graph  # a pytest process of their own: see pytest.ini

WORLD = WorldConfig(width=160, height=64, frames=8, seed=21, fx=0.7, fy=2.0, cx=0.52, cy=0.48)
FACTOR = 0.37
"""The model-unit depth of the tests is the true depth times this."""
CONFIG = ModelConfig(feature_dims=8, height=64, width=96, encoder_width=16)


@pytest.fixture(scope='module')
def drive():
    return render_sequence(WORLD)


def model_units(drive, index):
    """Exact depth of frame ``index`` (H x W) in model units."""
    return drive.depths[index, 0] * FACTOR


def test_plane_fit_undoes_an_arbitrary_depth_scale(drive):
    ground = GroundScale(camera_height=WORLD.camera_height)
    for index in range(len(drive)):
        estimate = ground.update(model_units(drive, index), drive.k_norm)
        assert estimate.accepted and estimate.confidence > 0.4
        assert estimate.height == pytest.approx(WORLD.camera_height * FACTOR, rel=0.02)
        assert estimate.scale == pytest.approx(1.0 / FACTOR, rel=0.02)
    plane = fit_ground_plane(ground_points(model_units(drive, 0), drive.k_norm))
    assert plane.normal @ np.array([0.0, -1.0, 0.0]) > math.cos(math.radians(2.0))


def test_plane_fit_ignores_thirty_percent_corrupt_pixels(drive):
    generator = torch.Generator().manual_seed(0)
    ground = GroundScale(camera_height=WORLD.camera_height)
    for index in range(len(drive)):
        depth = model_units(drive, index).clone()
        corrupt = torch.rand(depth.shape, generator=generator) < 0.3
        depth[corrupt] = FACTOR * (0.5 + 60.0 * torch.rand(depth.shape, generator=generator))[
            corrupt]
        estimate = ground.update(depth, drive.k_norm)
        assert estimate.accepted
        assert estimate.height == pytest.approx(WORLD.camera_height * FACTOR, rel=0.02)


def test_smoothing_rejects_a_single_outlier_and_follows_a_lasting_change(drive):
    ground = GroundScale(camera_height=WORLD.camera_height, patience=3)
    for index in range(3):
        ground.update(model_units(drive, index), drive.k_norm)
    settled = ground.scale
    outlier = ground.update(2.0 * model_units(drive, 3), drive.k_norm)
    assert not outlier.accepted
    assert outlier.height == pytest.approx(2.0 * WORLD.camera_height * FACTOR, rel=0.02)
    assert outlier.scale == settled
    assert ground.update(model_units(drive, 4), drive.k_norm).accepted
    changed = [ground.update(2.0 * model_units(drive, i), drive.k_norm) for i in range(5, 8)]
    assert [e.accepted for e in changed] == [False, False, True]
    assert changed[-1].scale == pytest.approx(0.5 / FACTOR, rel=0.02)
    ground.reset()
    assert ground.scale == 1.0


@pytest.mark.parametrize('name', ['wall', 'random'])
def test_no_plane_keeps_the_previous_scale_with_zero_confidence(drive, name):
    ground = GroundScale(camera_height=WORLD.camera_height)
    before = ground.update(model_units(drive, 0), drive.k_norm)
    shape = drive.depths.shape[-2:]
    if name == 'wall':  # fronto-parallel: every point on z = 3, normal along the optical axis
        depth = torch.full(shape, 3.0)
    else:
        depth = torch.from_numpy(np.random.default_rng(1).uniform(0.5, 60.0, tuple(shape)))
    estimate = ground.update(depth, drive.k_norm)
    assert not estimate.accepted and estimate.confidence == 0.0 and math.isnan(estimate.height)
    assert estimate.scale == before.scale == pytest.approx(1.0 / FACTOR, rel=0.02)


def test_bad_input_is_a_clear_error(drive):
    with pytest.raises(ValueError, match='camera_height'):
        GroundScale(camera_height=-1.0)
    with pytest.raises(ValueError, match='H x W'):
        GroundScale().update(drive.depths[0], drive.k_norm)
    with pytest.raises(ValueError, match='N x 3'):
        fit_ground_plane(np.zeros((10, 2)))


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    return save_model(DeFeatNet(CONFIG), tmp_path_factory.mktemp('model') / 'model')


def test_perception_scales_depth_and_translation_by_the_same_factor(model_dir, drive):
    images = images_uint8(drive.images[:4])
    plain = Perception(model_dir, 'onnxruntime')
    metric = Perception(model_dir, 'onnxruntime', scale_mode='camera_height', camera_height=1.2)
    metric.ground.heights.add(math.log(0.4))  # random weights show no ground plane: a scale
    for index, image in enumerate(images):
        reference = plain(image, features=False, output_size=(48, 80), k_norm=drive.k_norm)
        result = metric(image, features=False, output_size=(48, 80), k_norm=drive.k_norm)
        assert reference.scale == 1.0 and reference.scale_confidence is None
        assert result.scale == pytest.approx(1.2 / 0.4)
        assert result.scale_confidence is not None
        assert np.allclose(result.depth, reference.depth * result.scale, rtol=1e-5)
        if index:
            assert np.allclose(result.transform[:3, :3], reference.transform[:3, :3])
            assert np.allclose(result.transform[:3, 3], reference.transform[:3, 3] * result.scale)
    with pytest.raises(ValueError, match='k_norm'):
        metric(images[0])
    with pytest.raises(ValueError, match='model, camera_height'):
        Perception(model_dir, 'onnxruntime', scale_mode='median')


@pytest.fixture(scope='module')
def context():
    with ros_context() as context:
        yield context


def make_node(context, model_dir, namespace, **overrides):
    values = {'model': str(model_dir), 'backend': 'pytorch', **overrides}
    return DepthNode(namespace=namespace, context=context,
                     parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])


def test_node_scales_from_its_camera_height_parameter(context, model_dir, drive):
    namespace = unique_namespace('ground')
    node = make_node(context, model_dir, namespace, scale_mode='camera_height',
                     camera_height=1.2)
    probe = Probe(context, namespace)
    probe.listen(Image, 'depth/image')
    client = AsyncParameterClient(probe.node, f'{namespace}/defeat')
    image_pub = probe.node.create_publisher(Image, 'image', 10)
    info_pub = probe.node.create_publisher(CameraInfo, 'camera_info', 10)
    intrinsics = pixel_intrinsics_opencv(drive.k_norm, WORLD.height, WORLD.width)

    def call(name, value):
        future = client.set_parameters([Parameter(name, value=value)])
        assert wait_for(future.done), 'set_parameters got no answer'
        return future.result().results[0]

    with spinning(context, node, probe.node):
        assert node.get_parameter('camera_height').value == 1.2
        assert wait_for(lambda: publisher_matched(probe.node, f'{namespace}/image')
                        and publisher_matched(node, f'{namespace}/depth/image'))
        for index, image in enumerate(images_uint8(drive.images[:2])):
            stamp = (index + 1) * 10 ** 8
            info_pub.publish(camera_info_message(*intrinsics, WORLD.height, WORLD.width, stamp))
            image_pub.publish(image_message(image, 'rgb8', stamp))
            assert wait_for(lambda: len(probe.messages('depth/image')) > index), \
                'no depth published'
        assert node.perception.scale_mode == 'camera_height'
        assert client.wait_for_services(timeout_sec=WAIT_S)
        assert not call('camera_height', -1.0).successful  # outside the descriptor's range
        rejected = call('scale_mode', 'median')
        assert not rejected.successful and 'model, camera_height' in rejected.reason
        assert call('camera_height', 2.0).successful
        image_pub.publish(image_message(images_uint8(drive.images[2:3])[0], 'rgb8', 3 * 10 ** 8))
        assert wait_for(lambda: len(probe.messages('depth/image')) > 2), 'no depth published'
        assert node.perception.ground.camera_height == 2.0  # read again on every frame


@pytest.mark.parametrize('value', [0.0, 1000.0])
def test_node_refuses_an_impossible_camera_height(context, model_dir, value):
    with pytest.raises(ParameterException, match='camera_height'):
        make_node(context, model_dir, unique_namespace('height'), camera_height=value)
