"""
Message conversions, without DDS.

Images in every supported encoding, compressed images, camera info, the depth, feature and
point-cloud messages, and the rosbags -> rclpy converter (checked through the CDR bytes).
"""

from defeat_ros.geometry import normalise_intrinsics, scale_intrinsics
from defeat_ros.messages.builders import camera_info_msg, depth_msg, features_msg, image_msg
from defeat_ros.messages.builders import odometry_msg, pack_rgb, point_cloud_msg, transform_msg
from defeat_ros.messages.decode import camera_info_intrinsics, compressed_to_rgb, image_to_array
from defeat_ros.messages.image_encoding import to_rgb, UnsupportedEncoding
from defeat_ros.messages.typestore import header, TYPESTORE
from defeat_ros.ros.message_bridge import rclpy_class, to_rclpy
from defeat_ros.visualisation import colourise_features
import numpy as np
import pytest
from rclpy.serialization import serialize_message
from ros_testing import compressed_message, image_message
import torch

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (6, 10, 3), dtype=np.uint8)
HDR = header(1_700_000_000_123_456_789, 'camera_optical')


@pytest.mark.parametrize('encoding,pixels', [
    ('rgb8', RGB), ('bgr8', RGB[..., ::-1]), ('rgba8', np.dstack([RGB, RGB[..., :1]])),
    ('bgra8', np.dstack([RGB[..., ::-1], RGB[..., :1]])), ('mono8', RGB[..., 0]),
    ('bayer_rggb8', RGB[..., 1]), ('bayer_grbg8', RGB[..., 2]),
])
@pytest.mark.parametrize('padding', [0, 7])
def test_image_to_array_reads_every_encoding_and_drops_row_padding(encoding, pixels, padding):
    message = image_message(pixels, encoding, 0, padding=padding)
    array, read_encoding = image_to_array(message)
    assert read_encoding == encoding
    np.testing.assert_array_equal(array, pixels)
    rgb = to_rgb(array, encoding)
    assert rgb.shape == (6, 10, 3)
    if encoding in ('rgb8', 'bgr8', 'rgba8', 'bgra8'):
        np.testing.assert_array_equal(rgb, RGB)


@pytest.mark.parametrize('big_endian', [False, True])
def test_16_bit_images_are_read_at_8_bits(big_endian):
    cases = [('rgb16', RGB), ('mono16', RGB[..., 0]), ('bayer_rggb16', RGB[..., 1])]
    for encoding, pixels in cases:
        wide = pixels.astype(np.uint16) * 257  # full 16-bit range: the high byte is the value
        message = image_message(np.asarray(wide, '>u2' if big_endian else '<u2').view(np.uint8)
                                .reshape(*wide.shape[:2], -1), encoding, 0, padding=3)
        message.is_bigendian = int(big_endian)
        array, read_encoding = image_to_array(message)
        assert read_encoding == encoding[:-2] + '8'
        np.testing.assert_array_equal(array, pixels)


def test_unsupported_and_malformed_images_are_clear_errors():
    with pytest.raises(UnsupportedEncoding, match="'8UC2'.*supported: rgb8, .*bayer_bggr8"):
        image_to_array(image_message(np.zeros((4, 4, 2), np.uint8), '8UC2', 0))
    with pytest.raises(UnsupportedEncoding, match='16UC1'):
        image_to_array(image_message(np.zeros((4, 8), np.uint8), '16UC1', 0))
    short = image_message(RGB, 'rgb8', 0)
    short.data = bytes(short.data)[:-1]
    with pytest.raises(ValueError, match='needs 180 bytes, got 179'):
        image_to_array(short)
    narrow = image_message(RGB, 'rgb8', 0)
    narrow.step = 20
    with pytest.raises(ValueError, match='step 20'):
        image_to_array(narrow)


def test_compressed_png_is_exact_and_jpeg_close():
    import cv2
    bgr = np.ascontiguousarray(RGB[..., ::-1])
    _, png = cv2.imencode('.png', bgr)
    rgb, encoding = compressed_to_rgb(compressed_message(png, 0, image_format='png'))
    assert encoding == 'rgb8'
    np.testing.assert_array_equal(rgb, RGB)
    smooth = np.repeat(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], 3, axis=2)
    smooth = np.repeat(smooth, 16, axis=0)
    _, jpeg = cv2.imencode('.jpg', smooth, [cv2.IMWRITE_JPEG_QUALITY, 95])
    rgb, _ = compressed_to_rgb(compressed_message(jpeg, 0))
    assert rgb.shape == (16, 64, 3) and np.abs(rgb.astype(int) - smooth).max() <= 4
    _, grey = cv2.imencode('.png', RGB[..., 0])
    rgb, _ = compressed_to_rgb(compressed_message(grey, 0, image_format='png'))
    np.testing.assert_array_equal(rgb[..., 1], RGB[..., 0])


def test_compressed_garbage_and_compressed_depth_are_clear_errors():
    with pytest.raises(ValueError, match='cannot decode'):
        compressed_to_rgb(compressed_message(b'not an image', 0))
    with pytest.raises(UnsupportedEncoding, match='compressed depth'):
        compressed_to_rgb(compressed_message(b'\x00' * 16, 0,
                                             image_format='16UC1; compressedDepth png'))


def test_camera_info_round_trip_and_fallbacks():
    k_norm = normalise_intrinsics(400.0, 380.0, 319.5, 95.5, 640, 192)
    info = to_rclpy(camera_info_msg(k_norm, 192, 640, HDR))
    np.testing.assert_allclose(camera_info_intrinsics(info, 96, 320), k_norm, atol=1e-6)
    info.p = np.zeros(12)  # no projection matrix: K is used
    np.testing.assert_allclose(camera_info_intrinsics(info, 96, 320), k_norm, atol=1e-6)
    info.width = info.height = 0  # no size: the image's size is assumed
    np.testing.assert_allclose(camera_info_intrinsics(info, 192, 640), k_norm, atol=1e-6)
    info.k = np.zeros(9)
    with pytest.raises(ValueError, match='calibrated'):
        camera_info_intrinsics(info, 192, 640)


def test_features_message_interleaves_channels_and_is_unit_norm():
    features = RNG.normal(size=(3, 4, 5)).astype(np.float32)
    message = features_msg(features, HDR)
    assert (message.encoding, message.height, message.width, message.step) == \
        ('32FC3', 4, 5, 60)
    pixels = message.data.view('<f4').reshape(4, 5, 3)
    expected = features / np.linalg.norm(features, axis=0, keepdims=True)
    np.testing.assert_allclose(pixels, expected.transpose(1, 2, 0), rtol=1e-6)


def test_point_cloud_of_a_plane_with_holes():
    height, width, stride = 7, 10, 3
    depth = np.full((height, width), 2.0, np.float32)
    depth[0, 0], depth[3, 3] = np.nan, 0.0
    k_norm = normalise_intrinsics(8.0, 8.0, 4.5, 3.0, width, height)
    k_pix = scale_intrinsics(k_norm, height, width).numpy()
    colours = RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)
    message = point_cloud_msg(depth, k_pix, colours, stride, HDR)
    assert (message.height, message.width, message.point_step) == (3, 4, 16)
    assert not message.is_dense and message.header.frame_id == 'camera_optical'
    cloud = message.data.view('<f4').reshape(3, 4, 4)
    assert np.isnan(cloud[0, 0, :3]).all() and np.isnan(cloud[1, 1, :3]).all()
    valid = np.isfinite(cloud[..., 2])
    assert valid.sum() == 10 and np.allclose(cloud[..., 2][valid], 2.0)
    # Pixel (row 3 i, column 3 j) has its centre at (3 j + 0.5, 3 i + 0.5); OpenCV cx 4.5.
    np.testing.assert_allclose(cloud[0, 1, 0], (3.5 - 5.0) / 8.0 * 2.0)
    np.testing.assert_allclose(cloud[2, 3, 1], (6.5 - 3.5) / 8.0 * 2.0)
    np.testing.assert_array_equal(cloud[..., 3], pack_rgb(colours[::3, ::3]))


def test_pack_rgb_matches_pcl():
    packed = pack_rgb(np.array([[[255, 128, 1]]], np.uint8))
    assert packed.view('<u4')[0, 0] == 0xFF8001


@pytest.mark.parametrize('build', [
    lambda: image_msg(RGB, HDR),
    lambda: depth_msg(np.array([[1.0, np.inf], [0.0, 2.5]]), HDR),
    lambda: camera_info_msg(normalise_intrinsics(400, 380, 320, 96, 640, 192), 192, 640, HDR),
    lambda: odometry_msg(torch.eye(4), [1, 2, 3], [0.1, 0.2, 0.3], HDR, 'base',
                         np.diag(np.arange(1.0, 7.0)), np.eye(6)),
    lambda: point_cloud_msg(np.ones((4, 4), np.float32), np.eye(3), RGB[:4, :4], 2, HDR),
    lambda: transform_msg(np.eye(4), HDR, 'base_link'),
], ids=['image', 'depth', 'camera_info', 'odometry', 'points', 'transform'])
def test_to_rclpy_serialises_to_the_same_message(build):
    """Read rclpy's CDR bytes back with rosbags: they serialise like the original."""
    message = build()
    converted = to_rclpy(message)
    assert type(converted) is rclpy_class(message.__msgtype__)
    expected = bytes(TYPESTORE.serialize_cdr(message, message.__msgtype__))
    read_back = TYPESTORE.deserialize_cdr(serialize_message(converted), message.__msgtype__)
    assert bytes(TYPESTORE.serialize_cdr(read_back, message.__msgtype__)) == expected


def test_rclpy_class_of_a_missing_interface_is_an_import_error():
    with pytest.raises(ImportError):
        rclpy_class('no_such_msgs/msg/Thing')
    with pytest.raises(ImportError):
        rclpy_class('sensor_msgs/msg/NoSuchThing')


def test_colourise_features_spans_the_colour_range():
    features = RNG.normal(size=(8, 12, 16)).astype(np.float32)
    colours = colourise_features(features)
    assert colours.shape == (12, 16, 3) and colours.dtype == np.uint8
    assert (colours.min(axis=(0, 1)) == 0).all() and (colours.max(axis=(0, 1)) == 255).all()
    assert colourise_features(features[:2]).shape == (12, 16, 3)
