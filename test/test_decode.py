"""The one image decoder: Image, CompressedImage, depth Image, image files, all alike."""

import struct

import cv2
from defeat_ros.bags.reader import BagError
from defeat_ros.data.image_ops import read_rgb
from defeat_ros.data.rosbag_sequence import depth_array, image_array
from defeat_ros.messages.builders import depth_msg
from defeat_ros.messages.decode import compressed_to_rgb, decode_compressed, depth_to_metres
from defeat_ros.messages.decode import decode_image, is_compressed_depth, message_to_rgb
from defeat_ros.messages.image_encoding import eight_bit_encoding, to_rgb, UnsupportedEncoding
from defeat_ros.messages.typestore import COMPRESSED_IMAGE, header, IMAGE, msg
import numpy as np
import pytest
from sensor_msgs.msg import Image as RclpyImage

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
    ('32FC1', ''), ('16UC1', ''), ('16', ''), ('yuv422', 'yuv422'), ('uyvy', 'uyvy'),
    ('yuv422_yuy2', 'yuv422_yuy2'), ('nv21', 'rgb8'), ('nv24', 'rgb8'), ('uyvy16', ''),
    ('nv2116', ''), ('yuv420', ''),
])
def test_eight_bit_encoding(encoding, base):
    assert eight_bit_encoding(encoding) == base


def padded(rows, stride):
    """Return ``rows`` (R x B uint8) padded with random bytes to ``stride`` bytes a row."""
    junk = RNG.integers(0, 256, (rows.shape[0], stride - rows.shape[1]), dtype=np.uint8)
    return np.concatenate([rows, junk], axis=1).reshape(-1)


def raw_image(data, height, width, step, encoding, kind):
    """Return a sensor_msgs/Image of the bytes ``data``, a rosbags or an rclpy message."""
    data = np.asarray(data, np.uint8).reshape(-1)
    if kind == 'rclpy':
        message = RclpyImage(height=height, width=width, encoding=encoding, is_bigendian=0,
                             step=step)
        message.data = data.tobytes()
        return message
    return msg(IMAGE, header=HDR, height=height, width=width, encoding=encoding,
               is_bigendian=0, step=step, data=data)


def bt601(y, u, v):
    """Return RGB of full-resolution Y, U, V planes by the BT.601 limited-range formula."""
    y, u, v = (np.asarray(plane, np.float64) for plane in (y, u, v))
    luma = 1.164 * np.maximum(y - 16, 0)
    rgb = np.stack([luma + 1.596 * (v - 128), luma - 0.813 * (v - 128) - 0.391 * (u - 128),
                    luma + 2.018 * (u - 128)], axis=2)
    return np.clip(rgb, 0, 255)


@pytest.mark.parametrize('kind', ['rosbags', 'rclpy'])
@pytest.mark.parametrize('padding', [0, 5])
@pytest.mark.parametrize('encoding,code', [
    ('yuv422', cv2.COLOR_YUV2RGB_UYVY), ('uyvy', cv2.COLOR_YUV2RGB_UYVY),
    ('yuv422_yuy2', cv2.COLOR_YUV2RGB_YUY2), ('yuyv', cv2.COLOR_YUV2RGB_YUY2),
])
def test_packed_yuv_422_decodes_as_opencv_does(encoding, code, padding, kind):
    packed = RNG.integers(0, 256, (6, 10, 2), dtype=np.uint8)
    message = raw_image(padded(packed.reshape(6, 20), 20 + padding), 6, 10, 20 + padding,
                        encoding, kind)
    pixels, read_as = decode_image(message)
    assert read_as == encoding and np.array_equal(pixels, packed)
    expected = cv2.cvtColor(packed, code)
    assert np.array_equal(message_to_rgb(message), expected)
    assert np.array_equal(to_rgb(pixels, read_as), expected)


@pytest.mark.parametrize('kind', ['rosbags', 'rclpy'])
@pytest.mark.parametrize('padding', [0, 6])
@pytest.mark.parametrize('encoding,code', [
    ('nv21', cv2.COLOR_YUV2RGB_NV21), ('nv12', cv2.COLOR_YUV2RGB_NV12),
])
def test_nv21_and_nv12_decode_as_opencv_does(encoding, code, padding, kind):
    planes = RNG.integers(0, 256, (9, 10), dtype=np.uint8)  # 6 Y rows, 3 rows of chroma pairs
    message = raw_image(padded(planes, 10 + padding), 6, 10, 10 + padding, encoding, kind)
    expected = cv2.cvtColor(planes, code)
    assert expected.shape == (6, 10, 3)
    pixels, read_as = decode_image(message)
    assert read_as == 'rgb8' and np.array_equal(pixels, expected)
    assert np.array_equal(message_to_rgb(message), expected)
    assert np.array_equal(to_rgb(planes, encoding), expected)


def nv24_bytes(y, uv, step, chroma_stride):
    """Return the bytes of an nv24 image: Y rows strided by ``step``, then the chroma rows."""
    luma_stride = step if chroma_stride == 2 * step else step // 2
    return np.concatenate([padded(y, luma_stride),
                           padded(uv.reshape(uv.shape[0], -1), chroma_stride)])


@pytest.mark.parametrize('kind', ['rosbags', 'rclpy'])
@pytest.mark.parametrize('layout', ['y stride', 'y stride padded', 'chroma stride',
                                    'chroma stride padded'])
def test_nv24_decodes_with_full_resolution_chroma(layout, kind):
    height, width = 6, 10
    y = RNG.integers(0, 256, (height, width), dtype=np.uint8)
    uv = RNG.integers(0, 256, (height, width, 2), dtype=np.uint8)
    padding = 4 if layout.endswith('padded') else 0
    if layout.startswith('y stride'):  # V4L2 and GStreamer: step is the Y rows' stride
        step = width + padding
        data = nv24_bytes(y, uv, step, 2 * step)
        assert data.size == 3 * step * height
    else:  # sensor_msgs' two channels: step is the stride of the chroma rows
        step = 2 * width + padding
        data = nv24_bytes(y, uv, step, step)
        assert data.size == 3 * step * height // 2
    message = raw_image(data, height, width, step, 'nv24', kind)
    pixels, read_as = decode_image(message)
    assert read_as == 'rgb8' and pixels.shape == (height, width, 3)
    assert np.abs(pixels - bt601(y, uv[..., 0], uv[..., 1])).max() <= 1
    planes = np.concatenate([y, uv.reshape(2 * height, width)])
    assert np.array_equal(to_rgb(planes, 'nv24'), pixels)


def test_nv24_matches_opencv_nv12_where_chroma_is_shared():
    """An nv24 image whose chroma is constant in 2 x 2 blocks is an nv12 image: same RGB."""
    planes = RNG.integers(0, 256, (9, 10), dtype=np.uint8)
    y, pairs = planes[:6], planes[6:].reshape(3, 5, 2)
    uv = np.repeat(np.repeat(pairs, 2, axis=0), 2, axis=1)
    message = raw_image(nv24_bytes(y, uv, 13, 26), 6, 10, 13, 'nv24', 'rosbags')
    assert np.array_equal(message_to_rgb(message), cv2.cvtColor(planes, cv2.COLOR_YUV2RGB_NV12))
    uyvy = np.stack([uv[:, 0::2, 0], y[:, 0::2], uv[:, 0::2, 1], y[:, 1::2]], axis=2)
    assert np.array_equal(message_to_rgb(message),
                          cv2.cvtColor(uyvy.reshape(6, 10, 2), cv2.COLOR_YUV2RGB_UYVY))


@pytest.mark.parametrize('encoding,height,width,step,size,error', [
    ('yuv422', 2, 3, 6, 12, 'width must be even'),
    ('yuyv', 2, 4, 7, 14, 'step 7, less than 8 bytes'),
    ('uyvy', 2, 4, 8, 15, 'needs 16 bytes, got 15'),
    ('nv21', 3, 4, 4, 24, 'width and height must be even'),
    ('nv12', 2, 5, 5, 24, 'width and height must be even'),
    ('nv21', 4, 4, 5, 29, r'needs 30 bytes \(Y plane, then chroma plane'),
    ('nv21', 4, 4, 3, 30, 'step 3, less than 4 bytes'),
    ('nv24', 2, 4, 6, 26, 'needs 36 bytes .* or 18 .* at least 8'),
    ('nv24', 2, 4, 7, 35, 'needs 42 bytes'),
])
def test_yuv_images_that_do_not_fit_their_bytes_are_clear_errors(encoding, height, width, step,
                                                                 size, error):
    message = raw_image(np.zeros(size, np.uint8), height, width, step, encoding, 'rosbags')
    with pytest.raises(ValueError, match=error):
        decode_image(message)


@pytest.mark.parametrize('encoding,shape,error', [
    ('yuv422', (4, 5, 2), 'with W even'), ('yuyv', (4, 4, 3), 'H x W x 2'),
    ('nv21', (8, 4), r'1.5 H \(H and W even\)'), ('nv12', (9, 5), 'H and W even'),
    ('nv24', (8, 4), '3 H x W'), ('nv24', (9, 4, 2), '3 H x W'),
])
def test_to_rgb_refuses_yuv_arrays_of_the_wrong_shape(encoding, shape, error):
    with pytest.raises(ValueError, match=error):
        to_rgb(np.zeros(shape, np.uint8), encoding)
