"""
FrameStep without ROS: the camera_info policy, the fallback intrinsics and the wanted outputs.

The node and process-bag both run FrameStep; here it gets rosbags messages directly, with a
tiny random-weights DeFeatNet on the PyTorch backend (one thread).
"""

from pathlib import Path
import re

import cv2
from defeat_ros.camera.camera_info_cache import CameraInfoCache
from defeat_ros.camera.frame_step import FrameStep, OUTPUT_TOPICS
from defeat_ros.camera.options import OutputOptions
from defeat_ros.geometry import camera_to_base, mount_pose, normalise_intrinsics
from defeat_ros.geometry import pixel_intrinsics_opencv
from defeat_ros.messages.builders import camera_info_msg, image_msg
from defeat_ros.messages.decode import parameter_intrinsics
from defeat_ros.messages.image_encoding import UnsupportedEncoding
from defeat_ros.messages.typestore import COMPRESSED_IMAGE, header, msg
from defeat_ros.nets import ModelConfig, save_model
from defeat_ros.runtime.perception import Perception
import numpy as np
import pytest
import torch
from untrained import untrained_model

pytestmark = pytest.mark.usefixtures('one_thread')

HEIGHT, WIDTH = 48, 80
CONFIG = ModelConfig(encoder_width=16, feature_dims=8, height=64, width=96)
K_A = normalise_intrinsics(60.0, 62.0, 40.0, 24.0, WIDTH, HEIGHT)
K_B = normalise_intrinsics(30.0, 31.0, 41.0, 23.0, WIDTH, HEIGHT)
FALLBACK = parameter_intrinsics(0.58, 1.92, 0.5, 0.5)


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    return save_model(untrained_model(CONFIG), tmp_path_factory.mktemp('model') / 'tiny')


@pytest.fixture(scope='module')
def images():
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (4, HEIGHT, WIDTH, 3), dtype=np.uint8)


class Warnings(list):
    """The warn callback: collects (kind, text)."""

    def __call__(self, kind, text):
        self.append((kind, text))

    def kinds(self):
        return [kind for kind, _ in self]


def info(k_norm, stamp=0, distortion=0.0):
    message = camera_info_msg(k_norm, HEIGHT, WIDTH, header(stamp, 'cam'))
    message.d[0] = distortion
    return message


def uncalibrated():
    message = info(K_A)
    message.k[:] = 0.0
    message.p[:] = 0.0
    return message


def frame(pixels, seconds):
    return image_msg(pixels, header(round(seconds * 1e9), 'cam'))


def png_frame(pixels, seconds):
    data = cv2.imencode('.png', cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))[1].reshape(-1)
    return msg(COMPRESSED_IMAGE, header=header(round(seconds * 1e9), 'cam'), format='png',
               data=data)


def test_fallback_serves_until_a_usable_camera_info_and_is_announced_once():
    warnings = Warnings()
    cache = CameraInfoCache(FALLBACK, '/cam/camera_info', 'the parameters', warnings)
    np.testing.assert_array_equal(cache.intrinsics((HEIGHT, WIDTH)), FALLBACK)
    np.testing.assert_array_equal(cache.intrinsics((HEIGHT // 2, WIDTH // 2)), FALLBACK)
    assert warnings == [('intrinsics', 'no usable camera_info on /cam/camera_info yet; using '
                         'the parameters until one arrives')]
    assert not cache.update(uncalibrated()) and cache.latest is None
    np.testing.assert_array_equal(cache.intrinsics((HEIGHT, WIDTH)), FALLBACK)
    assert cache.update(info(K_A))
    np.testing.assert_allclose(cache.intrinsics((HEIGHT // 2, WIDTH // 2)), K_A)  # normalised
    assert warnings.kinds() == ['intrinsics', 'camera_info']


def test_latest_usable_camera_info_wins_and_unusable_ones_are_ignored():
    warnings = Warnings()
    cache = CameraInfoCache(FALLBACK, 'camera_info', warn=warnings)
    assert cache.update(info(K_A, distortion=0.1))
    assert not cache.update(uncalibrated())
    np.testing.assert_allclose(cache.intrinsics((HEIGHT, WIDTH)), K_A)
    assert cache.update(info(K_B, distortion=0.1))
    np.testing.assert_allclose(cache.intrinsics((HEIGHT, WIDTH)), K_B)
    assert warnings.kinds() == ['distortion', 'camera_info']  # distortion once
    assert 'no positive focal lengths' in warnings[1][1]


def test_without_fallback_a_frame_needs_camera_info_and_without_topic_nothing_is_announced():
    with pytest.raises(ValueError, match='no usable camera_info on camera_info'):
        CameraInfoCache().intrinsics((HEIGHT, WIDTH))
    warnings = Warnings()
    np.testing.assert_array_equal(
        CameraInfoCache(FALLBACK, None, warn=warnings).intrinsics((4, 4)), FALLBACK)
    assert warnings == []


def test_frame_step_builds_only_the_wanted_outputs_with_the_camera_info(model_dir, images):
    step = FrameStep(Perception(model_dir, 'pytorch'), OutputOptions(
        odom_frame='world', base_frame='robot', point_stride=8),
        CameraInfoCache(FALLBACK, 'camera_info'))
    first = step(frame(images[0], 1.0), {'depth', 'depth_info', 'points'})
    assert list(first.messages) == ['depth', 'depth_info', 'points']
    assert first.result.features is None and first.estimate.reset_reason == 'first frame'
    assert first.messages['depth_info'].k[0] == pytest.approx(0.58 * WIDTH)  # the fallback
    assert first.messages['points'].width == WIDTH // 8
    step.camera_info.update(info(K_A))
    second = step(frame(images[1], 1.1))
    assert list(second.messages) == list(OUTPUT_TOPICS)
    assert second.messages['depth'].header.frame_id == 'cam'
    assert second.messages['depth_info'].k[0] == pytest.approx(60.0)
    np.testing.assert_allclose(second.k_norm, K_A)
    odometry = second.messages['odometry']
    assert (odometry.header.frame_id, odometry.child_frame_id) == ('world', 'robot')
    assert second.estimate.tracking
    # features_resolution 'model' (the default): the network's size, whatever the image's
    assert second.result.features.shape == (8, CONFIG.height, CONFIG.width)
    assert (second.messages['features_info'].height, second.messages['features_info'].width) \
        == (CONFIG.height, CONFIG.width)


IMAGE_OUTPUTS = {'depth', 'depth_info', 'depth_visual', 'features', 'features_info',
                 'features_visual'}


def sizes(outputs):
    """Return {output key: (height, width)} of the image and CameraInfo messages."""
    return {key: (message.height, message.width) for key, message in outputs.messages.items()
            if key in IMAGE_OUTPUTS}


def test_features_come_at_the_network_size_unless_asked_for_the_input_size(model_dir, images):
    """
    features_resolution 'model' (the default): the network's own maps, never resized.

    Depth follows output_resolution ('input': 48 x 80 here); each CameraInfo has its image's
    size and the intrinsics scaled to it.
    """
    perception = Perception(model_dir, 'pytorch')
    step = FrameStep(perception, camera_info=CameraInfoCache(FALLBACK))
    model, image = (CONFIG.height, CONFIG.width), (HEIGHT, WIDTH)
    first = step(frame(images[0], 1.0), IMAGE_OUTPUTS)
    network = perception.backend.features(first.result.frame)[0]
    assert np.array_equal(first.result.features, network)  # not resized there and back
    assert first.messages['features'].encoding == '32FC8'
    assert sizes(first) == {'depth': image, 'depth_info': image, 'depth_visual': image,
                            'features': model, 'features_info': model,
                            'features_visual': model}
    for key, size in [('depth_info', image), ('features_info', model)]:
        fx, fy, cx, cy = pixel_intrinsics_opencv(FALLBACK, *size)
        np.testing.assert_allclose(first.messages[key].k, [fx, 0, cx, 0, fy, cy, 0, 0, 1])
    only_info = step(frame(images[1], 1.1), {'features_info'})
    assert only_info.result.features is None  # its size needs no features
    assert sizes(only_info) == {'features_info': model}
    step.options = OutputOptions(features_resolution='input', output_resolution='model')
    swapped = step(frame(images[2], 1.2), IMAGE_OUTPUTS)
    assert swapped.result.features.shape == (8, HEIGHT, WIDTH)
    assert sizes(swapped) == {'depth': model, 'depth_info': model, 'depth_visual': model,
                              'features': image, 'features_info': image,
                              'features_visual': image}


def test_rviz_displays_subscribe_to_output_topics():
    """config/defeat.rviz names topics the node publishes in its default namespace."""
    rviz = Path(__file__).resolve().parents[1] / 'config' / 'defeat.rviz'
    topics = set(re.findall(r'^\s+Value: (/camera/\S+)$', rviz.read_text(), re.MULTILINE))
    outputs = {f'/camera/{topic}' for _, topic in OUTPUT_TOPICS.values()}
    assert '/camera/depth/visual' in topics and topics <= outputs, topics - outputs


def test_options_apply_from_the_next_frame(model_dir, images):
    step = FrameStep(Perception(model_dir, 'pytorch'), camera_info=CameraInfoCache(FALLBACK))
    step(frame(images[0], 1.0), {'depth'})
    assert step(frame(images[1], 1.4), {'depth'}).estimate.tracking  # within max_gap_s 0.5
    step.options = OutputOptions(output_resolution='model', max_gap_s=0.2)
    late = step(frame(images[2], 1.7), {'depth'})
    assert late.estimate.reset_reason.startswith('gap of 0.300 s')
    assert late.result.depth.shape == (CONFIG.height, CONFIG.width)
    assert (late.messages['depth'].height, late.messages['depth'].width) == \
        (CONFIG.height, CONFIG.width)


def test_odometry_is_of_the_base_frame_given_by_the_mount_options(model_dir, images):
    """The camera's measured motion becomes base_frame's through camera_x .. camera_yaw."""
    mount = {'camera_x': 1.5, 'camera_y': -0.2, 'camera_z': 1.3, 'camera_roll': 0.02,
             'camera_pitch': 0.08, 'camera_yaw': 0.3}
    step = FrameStep(Perception(model_dir, 'pytorch'), OutputOptions(**mount),
                     CameraInfoCache(FALLBACK))
    step(frame(images[0], 1.0), {'odometry'})
    second = step(frame(images[1], 1.1), {'odometry'})
    expected = camera_to_base(second.result.transform, mount_pose(*mount.values()))
    np.testing.assert_allclose(second.estimate.t_odom_base, expected, atol=1e-6)
    pose = second.messages['odometry'].pose.pose.position
    np.testing.assert_allclose([pose.x, pose.y, pose.z], expected[:3, 3], atol=1e-6)
    assert second.messages['odometry'].child_frame_id == 'base_link'


def test_compressed_and_raw_images_give_the_same_outputs(model_dir, images):
    raw = FrameStep(Perception(model_dir, 'pytorch'), camera_info=CameraInfoCache(FALLBACK))
    png = FrameStep(Perception(model_dir, 'pytorch'), camera_info=CameraInfoCache(FALLBACK))
    for index, pixels in enumerate(images[:2]):
        from_raw = raw(frame(pixels, index * 0.1), {'depth'})
        from_png = png(png_frame(pixels, index * 0.1), {'depth'})
        assert np.array_equal(from_raw.result.depth, from_png.result.depth)
        assert np.array_equal(from_raw.estimate.t_odom_base, from_png.estimate.t_odom_base)


def test_an_unreadable_frame_raises_and_leaves_the_chain_alone(model_dir, images):
    step = FrameStep(Perception(model_dir, 'pytorch'), camera_info=CameraInfoCache(FALLBACK))
    step(frame(images[0], 1.0), {'depth'})
    bad = frame(images[1], 1.1)
    bad.encoding = '32FC1'
    with pytest.raises(UnsupportedEncoding):
        step(bad)
    corrupt = png_frame(images[1], 1.1)
    corrupt.data = corrupt.data[:20]
    with pytest.raises(ValueError, match='cannot decode'):
        step(corrupt)
    assert step(frame(images[1], 1.1), {'depth'}).estimate.tracking
