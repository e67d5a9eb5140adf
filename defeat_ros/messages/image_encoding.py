"""Camera images in ROS encodings -> RGB uint8 arrays, the input of Perception."""

import cv2
import numpy as np

TO_RGB = {
    'rgb8': None,
    'bgr8': cv2.COLOR_BGR2RGB,
    'rgba8': cv2.COLOR_RGBA2RGB,
    'bgra8': cv2.COLOR_BGRA2RGB,
    'mono8': cv2.COLOR_GRAY2RGB,
    # ROS names Bayer patterns by the colours of the first row; OpenCV by the second.
    'bayer_rggb8': cv2.COLOR_BayerBG2RGB,
    'bayer_bggr8': cv2.COLOR_BayerRG2RGB,
    'bayer_gbrg8': cv2.COLOR_BayerGR2RGB,
    'bayer_grbg8': cv2.COLOR_BayerGB2RGB,
}
"""Supported encodings and the OpenCV conversion to RGB (None: already RGB)."""
CHANNELS = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4}

IMAGE_ENCODINGS = tuple(TO_RGB) + tuple(encoding[:-1] + '16' for encoding in TO_RGB)
"""Every sensor_msgs/Image encoding read: the 8-bit ones and their 16-bit versions."""


class UnsupportedEncoding(ValueError):
    """An image encoding Perception cannot read."""


def to_rgb(array, encoding):
    """
    Convert an H x W (x C) uint8 array in a ROS ``encoding`` to H x W x 3 RGB uint8.

    Raises UnsupportedEncoding listing the supported ones for anything else, and ValueError
    when the array's shape does not fit the encoding.
    """
    if encoding not in TO_RGB:
        raise UnsupportedEncoding(f'unsupported image encoding {encoding!r}; supported: '
                                  f'{", ".join(sorted(TO_RGB))}')
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f'{encoding} images must be uint8, got {array.dtype}')
    channels = CHANNELS.get(encoding, 1)
    shape_ok = (array.ndim == 3 and array.shape[2] == channels) if channels > 1 else \
        (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1))
    if not shape_ok:
        raise ValueError(f'{encoding} image has shape {array.shape}, expected '
                         f'H x W{" x %d" % channels if channels > 1 else ""}')
    code = TO_RGB[encoding]
    if code is None:
        return np.ascontiguousarray(array)
    return cv2.cvtColor(array.reshape(array.shape[:2]) if channels == 1 else array, code)


def eight_bit_encoding(encoding):
    """
    Return the supported 8-bit encoding an Image in ``encoding`` is read as ('' for none).

    That is ``encoding`` itself when supported, the 8-bit version of a supported 16-bit
    encoding (``mono16``: ``mono8``), else ''.
    """
    if encoding in TO_RGB:
        return encoding
    base = encoding[:-2] + '8' if encoding.endswith('16') else ''
    return base if base in TO_RGB else ''


def unpack_pixels(data, height, width, step, encoding, big_endian=False):
    """
    Read the pixels of a raw image buffer (a sensor_msgs/Image's fields), dropping row padding.

    16-bit versions of the supported encodings (e.g. ``rgb16``, ``mono16``) are reduced to
    their high byte.

    :param data: the buffer, ``step`` bytes per row.
    :param encoding: a supported encoding or its 16-bit version.
    :return: (H x W x C or H x W uint8 array, the matching 8-bit encoding); a copy.
    :raises UnsupportedEncoding: for any other encoding.
    :raises ValueError: when size, step and data length disagree.
    """
    base = eight_bit_encoding(encoding)
    if not base:
        raise UnsupportedEncoding(f'unsupported image encoding {encoding!r}; supported: '
                                  f'{", ".join(IMAGE_ENCODINGS)}')
    wide = base != encoding
    height, width, step = int(height), int(width), int(step)
    channels = CHANNELS.get(base, 1)
    row = width * channels * (2 if wide else 1)
    if height == 0 or width == 0:
        raise ValueError(f'empty {encoding} image ({width}x{height})')
    if step < row:
        raise ValueError(f'{encoding} image {width}x{height} has step {step}, less than '
                         f'{row} bytes per row')
    buffer = np.frombuffer(memoryview(data), dtype=np.uint8)
    if buffer.size < step * height:
        raise ValueError(f'{encoding} image {width}x{height} with step {step} needs '
                         f'{step * height} bytes, got {buffer.size}')
    rows = np.ascontiguousarray(buffer[:step * height].reshape(height, step)[:, :row])
    if wide:
        rows = (rows.view('>u2' if big_endian else '<u2') >> 8).astype(np.uint8)
    shape = (height, width, channels) if channels > 1 else (height, width)
    return rows.reshape(shape).copy(), base


def encode_jpeg(rgb, quality):
    """
    Encode a uint8 H x W x 3 RGB image as JPEG bytes (numpy uint8) at ``quality``.

    Chroma is kept at full resolution (4:4:4) where OpenCV supports choosing it: rendered
    textures change colour from pixel to pixel, and 4:2:0 subsampling would blur them visibly.
    """
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    if hasattr(cv2, 'IMWRITE_JPEG_SAMPLING_FACTOR'):
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    ok, encoded = cv2.imencode('.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise RuntimeError('JPEG encoding failed')
    return encoded.reshape(-1)
