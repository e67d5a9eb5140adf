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
