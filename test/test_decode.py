"""The one image decoder: Image, CompressedImage, depth Image, image files, all alike."""

import struct

import cv2
from defeat_ros.bags.reader import BagError
from defeat_ros.data.image_ops import read_rgb
from defeat_ros.data.rosbag_sequence import depth_array, image_array
from defeat_ros.messages.builders import depth_msg
from defeat_ros.messages.decode import compressed_to_rgb, decode_compressed, depth_to_metres
from defeat_ros.messages.decode import is_compressed_depth, message_to_rgb
from defeat_ros.messages.image_encoding import eight_bit_encoding, UnsupportedEncoding
from defeat_ros.messages.typestore import COMPRESSED_IMAGE, header, IMAGE, msg
import numpy as np
import pytest

RNG = np.random.default_rng(3)
RGB = RNG.integers(0, 256, (6, 10, 3), dtype=np.uint8)
HDR = header(1_700_000_000_000_000_000, 'camera_optical')


def encoded(image, extension='.png'):
    """Return ``image`` (OpenCV channel order) encoded as bytes."""
    ok, data = cv2.imencode(extension, image)
    assert ok
    return data.tobytes()


def compressed(data, image_format='png'):
    """Return a rosbags CompressedImage holding ``data``."""
    return msg(COMPRESSED_IMAGE, header=HDR, format=image_format,
               data=np.frombuffer(data, np.uint8))


def raw_depth(values, encoding, big_endian=False, padding=0):
    """Return a depth Image of ``values`` (a numpy array of the encoding's type)."""
    height, width = values.shape
    values = values.astype(values.dtype.newbyteorder('>' if big_endian else '<'))
    rows = values.view(np.uint8).reshape(height, -1)
    rows = np.concatenate([rows, np.full((height, padding), 9, np.uint8)], axis=1)
    return msg(IMAGE, header=HDR, height=height, width=width, encoding=encoding,
               is_bigendian=int(big_endian), step=rows.shape[1], data=rows.reshape(-1))


def with_exif_orientation(jpeg, orientation):
    """Insert an EXIF APP1 segment with an Orientation tag after a JPEG's SOI marker."""
    tiff = b'II*\x00' + struct.pack('<I', 8) + struct.pack('<H', 1)
    tiff += struct.pack('<HHII', 0x0112, 3, 1, orientation) + struct.pack('<I', 0)
    payload = b'Exif\x00\x00' + tiff
    return jpeg[:2] + b'\xff\xe1' + struct.pack('>H', len(payload) + 2) + payload + jpeg[2:]


@pytest.mark.parametrize('image_format,depth', [
    ('jpeg', False), ('png', False), ('rgb8; jpeg compressed bgr8', False),
    ('compressedDepth', True), ('16UC1; compressedDepth png', True),
    ('32FC1; COMPRESSEDDEPTH', True), ('16UC1; compressed Depth', True),
])
def test_compressed_depth_is_told_by_the_format(image_format, depth):
    assert is_compressed_depth(image_format) == depth


def test_compressed_bytes_decode_as_colour_8_bit_rgb():
    bgr = RGB[..., ::-1].copy()
    assert np.array_equal(decode_compressed(encoded(bgr)), RGB)
    grey = RGB[..., 0].copy()
    assert np.array_equal(decode_compressed(encoded(grey)), np.dstack([grey] * 3))
    bgra = np.dstack([bgr, np.full(grey.shape, 40, np.uint8)])
    assert np.array_equal(decode_compressed(encoded(bgra)), RGB)
    wide = RGB[..., ::-1].astype(np.uint16) * 256 + 201
    assert np.array_equal(decode_compressed(encoded(wide)), RGB)
    with pytest.raises(ValueError, match=r'cannot decode the bytes \(5 bytes\)'):
        decode_compressed(b'12345', 'the bytes')


def test_exif_orientation_is_ignored():
    tall = np.zeros((16, 8, 3), np.uint8)
    tall[:8] = 255
    rotated = with_exif_orientation(encoded(tall, '.jpg'), 6)
    assert cv2.imdecode(np.frombuffer(rotated, np.uint8), cv2.IMREAD_COLOR).shape[:2] == (8, 16)
    rgb = decode_compressed(rotated)
    assert rgb.shape == (16, 8, 3) and rgb[:6].min() > 200 and rgb[10:].max() < 50


def test_files_messages_and_the_dataset_decode_alike(tmp_path):
    data = encoded(np.dstack([RGB[..., ::-1], RGB[..., :1]]))
    (tmp_path / 'frame.png').write_bytes(data)
    message = compressed(data)
    from_file = read_rgb(tmp_path / 'frame.png')
    assert np.array_equal(from_file, RGB)
    assert np.array_equal(compressed_to_rgb(message)[0], from_file)
    assert np.array_equal(message_to_rgb(message), from_file)
    assert np.array_equal(image_array(message, 'bag b, topic t'), from_file)
    (tmp_path / 'broken.png').write_bytes(b'not a png')
    with pytest.raises(OSError, match='broken.png'):
        read_rgb(tmp_path / 'broken.png')
    with pytest.raises(OSError):
        read_rgb(tmp_path / 'missing.png')


def test_message_to_rgb_reads_raw_images():
    bgr = RGB[..., ::-1].copy()
    message = msg(IMAGE, header=HDR, height=6, width=10, encoding='bgr8', is_bigendian=0,
                  step=30, data=bgr.reshape(-1))
    assert np.array_equal(message_to_rgb(message), RGB)


def test_dataset_errors_name_bag_and_topic():
    depth = compressed(encoded(RGB), '16UC1; compressedDepth png')
    with pytest.raises(BagError, match='bag b, topic t: .*compressed depth'):
        image_array(depth, 'bag b, topic t')
    with pytest.raises(BagError, match="bag b, topic d: depth encoding .* got 'rgb8'"):
        depth_array(msg(IMAGE, header=HDR, height=1, width=1, encoding='rgb8',
                        is_bigendian=0, step=3, data=np.zeros(3, np.uint8)), 'bag b, topic d')


def test_depth_images_read_as_metres():
    metres = RNG.uniform(0.5, 80.0, (4, 5)).astype(np.float32)
    assert np.array_equal(depth_to_metres(depth_msg(metres, HDR)), metres)
    assert np.array_equal(depth_to_metres(raw_depth(metres, '32FC1', True, 3)), metres)
    millimetres = np.array([[0, 1500], [65535, 20]], np.uint16)
    expected = millimetres.astype(np.float32) * np.float32(1e-3)
    for big_endian in (False, True):
        read = depth_to_metres(raw_depth(millimetres, '16UC1', big_endian, 2))
        assert read.dtype == np.float32 and np.array_equal(read, expected)
    with pytest.raises(UnsupportedEncoding, match="got '8UC1'"):
        depth_to_metres(raw_depth(millimetres.astype(np.uint8), '8UC1'))
    short = raw_depth(millimetres, '16UC1')
    short.data = short.data[:-1]
    with pytest.raises(ValueError, match='does not fit its 7 bytes'):
        depth_to_metres(short)


@pytest.mark.parametrize('encoding,base', [
    ('rgb8', 'rgb8'), ('mono16', 'mono8'), ('bayer_grbg16', 'bayer_grbg8'), ('bgra16', 'bgra8'),
    ('32FC1', ''), ('16UC1', ''), ('yuv422', ''), ('16', ''),
])
def test_eight_bit_encoding(encoding, base):
    assert eight_bit_encoding(encoding) == base
