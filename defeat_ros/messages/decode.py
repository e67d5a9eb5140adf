"""
Read incoming messages into arrays: the one image decoder, CameraInfo intrinsics, speeds.

Messages are read by duck typing, so rclpy messages and rosbags messages both work. Every
image anyone reads (the node, process-bag, the rosbag dataset, the demo, image files) is
decoded here:

| message | function |
| --- | --- |
| Image (rgb, bgr, rgba, bgra, mono, bayer_* at 8 or 16 bits; YUV) | :func:`image_to_array` |
| CompressedImage (JPEG, PNG) | :func:`compressed_to_rgb` |
| either of the two | :func:`decode_image` (:func:`message_to_rgb`: as RGB) |
| depth Image (32FC1 metres, 16UC1 millimetres) | :func:`depth_to_metres` |
| CameraInfo | :func:`camera_info_intrinsics` |
| Odometry, TwistStamped, TwistWithCovarianceStamped (:data:`SPEED_TYPES`) | :func:`twist_speed` |

Compressed bytes (JPEG, PNG, and for files anything OpenCV reads) are decoded by
:func:`decode_compressed` with :data:`IMREAD_FLAGS`: colour, 8 bits (16-bit PNGs keep their
high byte, grey is replicated, alpha is dropped), pixels as stored (EXIF orientation ignored).
A CompressedImage is compressed depth when its ``format`` says so (:func:`is_compressed_depth`).
"""

import math

import cv2
from defeat_ros.geometry import intrinsics_array
from defeat_ros.messages.image_encoding import to_rgb, unpack_pixels, UnsupportedEncoding
from defeat_ros.messages.typestore import ODOMETRY, TWIST_STAMPED, TWIST_WITH_COVARIANCE_STAMPED
import numpy as np

IMREAD_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
"""How compressed images are read: 8-bit BGR, pixels as stored (no EXIF rotation)."""

SPEED_TYPES = (ODOMETRY, TWIST_STAMPED, TWIST_WITH_COVARIANCE_STAMPED)
"""Message types that record a vehicle's velocity, which :func:`twist_speed` reads."""

DEPTH_ENCODINGS = {'32FC1': ('f4', 1.0), '16UC1': ('u2', 1e-3), 'mono16': ('u2', 1e-3)}
"""Depth Image encodings: (numpy type, metres per unit)."""


def image_to_array(message):
    """
    Read the pixels of a sensor_msgs/Image.

    Row padding (``step`` larger than ``width`` times the pixel size) is dropped; 16-bit
    versions of the encodings (``rgb16``, ``mono16``, ``bayer_rggb16``...; either byte order) are
    reduced to 8 bits; packed YUV 4:2:2 (``uyvy``, ``yuyv`` and their older names ``yuv422``,
    ``yuv422_yuy2``) is read as H x W x 2, semi-planar YUV (``nv12``, ``nv21``, ``nv24``) is
    converted to ``rgb8`` (layouts: :mod:`defeat_ros.messages.image_encoding`). The array is a
    copy: it does not keep the message alive.

    :param message: Image with an encoding Perception reads, or its 16-bit version.
    :return: (H x W x C or H x W uint8 array, its 8-bit encoding).
    :raises UnsupportedEncoding: for any other encoding.
    :raises ValueError: when size, step and data length disagree.
    """
    return unpack_pixels(message.data, message.height, message.width, message.step,
                         message.encoding, bool(message.is_bigendian))


def is_compressed_depth(image_format):
    """Whether a CompressedImage ``format`` is compressed depth (names 'compressedDepth')."""
    return 'compresseddepth' in image_format.lower().replace(' ', '')


def decode_compressed(data, what='the compressed image'):
    """
    Decode compressed image bytes (JPEG, PNG, ...) to RGB uint8 H x W x 3 with IMREAD_FLAGS.

    :param data: the encoded bytes (bytes, memoryview or a uint8 array).
    :param what: what the bytes are, for the message.
    :raises ValueError: when the bytes do not decode.
    """
    buffer = np.frombuffer(memoryview(data), dtype=np.uint8)
    bgr = cv2.imdecode(buffer, IMREAD_FLAGS) if buffer.size else None
    if bgr is None:
        raise ValueError(f'cannot decode {what} ({buffer.size} bytes)')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def compressed_to_rgb(message):
    """
    Decode a sensor_msgs/CompressedImage (JPEG or PNG, colour or grey) to RGB.

    :return: (H x W x 3 uint8 array, 'rgb8').
    :raises UnsupportedEncoding: for compressed depth (``compressedDepth`` formats).
    :raises ValueError: when the data cannot be decoded.
    """
    if is_compressed_depth(message.format):
        raise UnsupportedEncoding(f'unsupported CompressedImage format {message.format!r}: '
                                  f'compressed depth is not a camera image')
    what = f'the CompressedImage (format {message.format!r}) as JPEG or PNG'
    return decode_compressed(message.data, what), 'rgb8'


def decode_image(message):
    """
    Read the pixels of a sensor_msgs Image or CompressedImage (told apart by ``format``).

    :return: (H x W x C or H x W uint8 array, its 8-bit encoding); 'rgb8' for compressed images.
    :raises UnsupportedEncoding: for an encoding Perception cannot read (or compressed depth).
    :raises ValueError: for malformed or undecodable data.
    """
    if hasattr(message, 'format'):
        return compressed_to_rgb(message)
    return image_to_array(message)


def message_to_rgb(message):
    """
    Decode a sensor_msgs Image or CompressedImage to RGB uint8 H x W x 3.

    :raises UnsupportedEncoding: for an encoding Perception cannot read (or compressed depth).
    :raises ValueError: for malformed or undecodable data.
    """
    return to_rgb(*decode_image(message))


def depth_to_metres(message):
    """
    Read a depth sensor_msgs/Image: 32FC1 metres (NaN unknown) or 16UC1 millimetres (0 unknown).

    ``mono16`` is read as millimetres too. Row padding is dropped; either byte order.

    :return: float32 H x W metres (a copy).
    :raises UnsupportedEncoding: for any other encoding.
    :raises ValueError: when size, step and data length disagree.
    """
    if message.encoding not in DEPTH_ENCODINGS:
        raise UnsupportedEncoding(f'depth encoding must be 32FC1 or 16UC1, got '
                                  f'{message.encoding!r}')
    kind, scale = DEPTH_ENCODINGS[message.encoding]
    dtype = np.dtype(('>' if message.is_bigendian else '<') + kind)
    height, width, step = int(message.height), int(message.width), int(message.step)
    row = width * dtype.itemsize
    data = np.frombuffer(memoryview(message.data), dtype=np.uint8)
    if height == 0 or width == 0 or step < row or data.size < step * height:
        raise ValueError(f'{message.encoding} depth image {width}x{height} with step {step} '
                         f'does not fit its {data.size} bytes')
    rows = data[:height * step].reshape(height, step)
    values = np.ascontiguousarray(rows[:, :row]).view(dtype)
    return values.astype(np.float32) * np.float32(scale)


def camera_info_intrinsics(message, height, width):
    """
    Return normalised intrinsics (3 x 3 float32 array, corner convention) of a CameraInfo.

    The projection matrix P is used (the intrinsics of the rectified image, which the node
    assumes it receives); K when P is unset. Pixel intrinsics are normalised by the info's own
    size, so an image resized after calibration keeps the right intrinsics; an info without a
    size is taken to describe an image of ``height`` x ``width``.

    :raises ValueError: when neither P nor K holds positive focal lengths.
    """
    p = np.asarray(message.p, dtype=np.float64).reshape(-1)
    k = np.asarray(message.k, dtype=np.float64).reshape(-1)
    if p.size == 12 and p[0] > 0 and p[5] > 0:
        fx, fy, cx, cy = p[0], p[5], p[2], p[6]
    elif k.size == 9 and k[0] > 0 and k[4] > 0:
        fx, fy, cx, cy = k[0], k[4], k[2], k[5]
    else:
        raise ValueError('camera_info holds no intrinsics (P and K have no positive focal '
                         'lengths): is the camera calibrated?')
    info_width = int(message.width) or width
    info_height = int(message.height) or height
    return intrinsics_array(float(fx), float(fy), float(cx), float(cy), info_width, info_height)


def twist_speed(message):
    """
    Return the speed (m/s, >= 0) a message of :data:`SPEED_TYPES` records: ``|twist.linear|``.

    Odometry and TwistWithCovarianceStamped wrap their twist with a covariance
    (``message.twist.twist``); TwistStamped holds it directly (``message.twist``).
    """
    twist = message.twist
    linear = getattr(twist, 'twist', twist).linear
    return math.hypot(linear.x, linear.y, linear.z)


def parameter_intrinsics(fx, fy, cx, cy):
    """Return normalised intrinsics (3 x 3 float32 array) from normalised parameter values."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float32)
