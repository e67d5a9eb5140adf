"""
Read incoming messages into arrays: Image and CompressedImage pixels, CameraInfo intrinsics.

Messages are read by duck typing, so rclpy messages and rosbags messages both work.

| message | function |
| --- | --- |
| Image (rgb8, bgr8, rgba8, bgra8, mono8, bayer_*8, or 16-bit) | :func:`image_to_array` |
| CompressedImage (JPEG, PNG) | :func:`compressed_to_rgb` |
| CameraInfo | :func:`camera_info_intrinsics` |
"""

import cv2
from defeat_ros.geometry import normalise_intrinsics
from defeat_ros.messages.image_encoding import unpack_pixels, UnsupportedEncoding
import numpy as np
import torch


def image_to_array(message):
    """
    Read the pixels of a sensor_msgs/Image.

    Row padding (``step`` larger than ``width`` times the pixel size) is dropped; 16-bit
    versions of the encodings (``rgb16``, ``mono16``, ``bayer_rggb16``...; either byte order) are
    reduced to 8 bits. The array is a copy: it does not keep the message alive.

    :param message: Image with an encoding Perception reads, or its 16-bit version.
    :return: (H x W x C or H x W uint8 array, its 8-bit encoding).
    :raises UnsupportedEncoding: for any other encoding.
    :raises ValueError: when size, step and data length disagree.
    """
    return unpack_pixels(message.data, message.height, message.width, message.step,
                         message.encoding, bool(message.is_bigendian))


def compressed_to_rgb(message):
    """
    Decode a sensor_msgs/CompressedImage (JPEG or PNG, colour or grey) to RGB.

    :return: (H x W x 3 uint8 array, 'rgb8').
    :raises UnsupportedEncoding: for compressed depth (``compressedDepth`` formats).
    :raises ValueError: when the data cannot be decoded.
    """
    if 'compresseddepth' in message.format.lower().replace(' ', ''):
        raise UnsupportedEncoding(f'unsupported CompressedImage format {message.format!r}: '
                                  f'compressed depth is not a camera image')
    data = np.frombuffer(message.data, dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise ValueError(f'cannot decode the CompressedImage (format {message.format!r}, '
                         f'{data.size} bytes) as JPEG or PNG')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), 'rgb8'


def camera_info_intrinsics(message, height, width):
    """
    Return normalised intrinsics (3 x 3 tensor, corner convention) from a sensor_msgs/CameraInfo.

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
    return normalise_intrinsics(float(fx), float(fy), float(cx), float(cy), info_width,
                                info_height)


def parameter_intrinsics(fx, fy, cx, cy):
    """Return normalised intrinsics (3 x 3 tensor) from normalised parameter values."""
    return torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=torch.float32)
