"""
Camera images in ROS encodings -> RGB uint8 arrays, the input of Perception.

Layouts follow ``sensor_msgs/image_encodings.hpp`` and V4L2:

| encodings | bytes a pixel | read as |
| --- | --- | --- |
| ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``, ``mono8``, ``bayer_*8`` | 3, 4 or 1 | themselves |
| their 16-bit versions (``rgb16``, ``mono16``...; either byte order) | twice that | 8-bit |
| ``uyvy`` = ``yuv422`` (U Y0 V Y1), ``yuyv`` = ``yuv422_yuy2`` (Y0 U Y1 V) | 2 | themselves |
| ``nv12`` (``nv21``): Y plane, half-height plane of U V (V U) pairs | 1.5 | ``rgb8`` |
| ``nv24``: Y plane, full-size plane of U V pairs | 3 | ``rgb8`` |

``yuv422`` and ``yuv422_yuy2`` are the older names of ``uyvy`` and ``yuyv``. Semi-planar images
(``nv*``) have no H x W x C form, so they are converted to RGB while their rows are unpacked.
Their ``step`` is the Y plane's row stride (V4L2, GStreamer; ``sensor_msgs`` reads nv12 and nv21
so, with ``height * 1.5`` rows of ``step`` bytes); the chroma rows of nv12 and nv21 have the same
stride, those of nv24 twice it. Because ``sensor_msgs`` declares nv24 with two channels, an nv24
image whose data holds only ``step * height * 1.5`` bytes (``step`` at least ``2 * width``) is read
with ``step`` as the chroma rows' stride and half of it as the Y rows'.

All YUV encodings are converted with OpenCV's BT.601 limited-range matrix (Y 16-235), the V4L2
default for YUV: nv24 goes through the 4:2:2 conversion with each pixel's chroma, so it matches
nv21 and uyvy exactly.
"""

import cv2
import numpy as np


def nv24_to_rgb(planes):
    """
    Convert an nv24 image, 3H x W (the Y plane, then H rows of W interleaved U V pairs), to RGB.

    Each pixel becomes a UYVY pair (U, Y, V, Y) of OpenCV's 4:2:2 conversion, whose first pixel
    is kept: the same matrix and rounding as the other YUV encodings.
    """
    height = planes.shape[0] // 3
    luma = planes[:height]
    chroma = planes[height:].reshape(height, -1, 2)
    pairs = np.stack([chroma[..., 0], luma, chroma[..., 1], luma], axis=2)
    rgb = cv2.cvtColor(pairs.reshape(height, -1, 2), cv2.COLOR_YUV2RGB_UYVY)
    return np.ascontiguousarray(rgb[:, ::2])


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
    'uyvy': cv2.COLOR_YUV2RGB_UYVY,
    'yuv422': cv2.COLOR_YUV2RGB_UYVY,
    'yuyv': cv2.COLOR_YUV2RGB_YUY2,
    'yuv422_yuy2': cv2.COLOR_YUV2RGB_YUY2,
    'nv12': cv2.COLOR_YUV2RGB_NV12,
    'nv21': cv2.COLOR_YUV2RGB_NV21,
    'nv24': nv24_to_rgb,
}
"""
Supported encodings and their conversion to RGB: an OpenCV code, a function, or None (RGB).

Semi-planar encodings (:data:`PLANAR`) are converted from OpenCV's layout: the planes stacked
as one single-channel array, width columns.
"""
CHANNELS = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4,
            'uyvy': 2, 'yuv422': 2, 'yuyv': 2, 'yuv422_yuy2': 2}
"""Bytes a pixel of the packed 8-bit encodings with more than one (the others: one)."""
PACKED_422 = ('uyvy', 'yuv422', 'yuyv', 'yuv422_yuy2')
"""Packed YUV 4:2:2: two pixels share a chroma pair, so the width is even."""
PLANAR = {'nv12': (1, 2), 'nv21': (1, 2), 'nv24': (2, 1)}
"""Semi-planar encodings: (chroma plane row bytes per image column, chroma rows per Y row)."""
WIDE = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', 'bayer_rggb8', 'bayer_bggr8', 'bayer_gbrg8',
        'bayer_grbg8')
"""The 8-bit encodings that have 16-bit versions (``rgb16``, ``mono16``, ``bayer_rggb16``...)."""

IMAGE_ENCODINGS = tuple(TO_RGB) + tuple(encoding[:-1] + '16' for encoding in WIDE)
"""Every sensor_msgs/Image encoding read: the 8-bit ones and the 16-bit versions of ``WIDE``."""


class UnsupportedEncoding(ValueError):
    """An image encoding Perception cannot read."""


def planar_height(encoding, rows):
    """Return the image height of a semi-planar image of ``rows`` stacked rows (0: no fit)."""
    chroma_bytes, luma_rows = PLANAR[encoding]
    # Each image row is one Y row and chroma_bytes / luma_rows rows of W chroma bytes.
    height, rest = divmod(rows * luma_rows, luma_rows + chroma_bytes)
    return height if not rest and height % luma_rows == 0 else 0


def to_rgb(array, encoding):
    """
    Convert a uint8 array in a ROS ``encoding`` to H x W x 3 RGB uint8.

    The array is H x W (x C), C the encoding's bytes a pixel (2 for YUV 4:2:2, which needs an
    even W); for the semi-planar encodings (``nv12``, ``nv21``, ``nv24``) it is OpenCV's
    layout, the Y plane above the chroma plane, W columns: 1.5 H rows (even H and W) or, for
    nv24, 3 H rows.

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
    if encoding in PLANAR:
        if not shape_ok or not planar_height(encoding, array.shape[0]) or (
                PLANAR[encoding][1] > 1 and array.shape[1] % 2):
            rows = '3 H' if encoding == 'nv24' else '1.5 H (H and W even)'
            raise ValueError(f'{encoding} image has shape {array.shape}, expected {rows} x W: '
                             f'the Y plane above the chroma plane')
    elif not shape_ok or (encoding in PACKED_422 and array.shape[1] % 2):
        raise ValueError(f'{encoding} image has shape {array.shape}, expected '
                         f'H x W{" x %d" % channels if channels > 1 else ""}'
                         f'{" with W even" if encoding in PACKED_422 else ""}')
    convert = TO_RGB[encoding]
    if convert is None:
        return np.ascontiguousarray(array)
    image = array.reshape(array.shape[:2]) if channels == 1 else array
    return convert(image) if callable(convert) else cv2.cvtColor(image, convert)


def eight_bit_encoding(encoding):
    """
    Return the supported 8-bit encoding an Image in ``encoding`` is read as ('' for none).

    That is ``encoding`` itself when supported, the 8-bit version of a 16-bit encoding of
    :data:`WIDE` (``mono16``: ``mono8``), 'rgb8' for the semi-planar ones (converted while
    unpacked), else ''.
    """
    if encoding in PLANAR:
        return 'rgb8'
    if encoding in TO_RGB:
        return encoding
    base = encoding[:-2] + '8' if encoding.endswith('16') else ''
    return base if base in WIDE else ''


def planar_strides(size, height, width, step, encoding):
    """
    Return the row strides (Y, chroma) of a semi-planar image of ``size`` bytes.

    :raises ValueError: when the image does not fit its bytes.
    """
    what = f'{encoding} image {width}x{height} with step {step}'
    if PLANAR[encoding][1] > 1:
        if height % 2 or width % 2:
            raise ValueError(f'{what}: width and height must be even')
        if size < step * height * 3 // 2:
            raise ValueError(f'{what} needs {step * height * 3 // 2} bytes (Y plane, then '
                             f'chroma plane, rows of step bytes), got {size}')
        return step, step
    if size >= 3 * step * height:  # V4L2: step strides the Y rows, twice it the chroma rows
        return step, 2 * step
    if step % 2 == 0 and step >= 2 * width and 2 * size >= 3 * step * height:
        return step // 2, step  # two channels (sensor_msgs): step strides the chroma rows
    raise ValueError(f'{what} needs {3 * step * height} bytes (step: the stride of the Y rows) '
                     f'or {3 * step * height // 2} (step: that of the chroma rows, at least '
                     f'{2 * width}), got {size}')


def unpack_planar(buffer, height, width, step, encoding):
    """Return a semi-planar image's planes in OpenCV's layout (the Y plane above the chroma)."""
    luma, chroma = planar_strides(buffer.size, height, width, step, encoding)
    chroma_bytes, luma_rows = PLANAR[encoding]
    chroma_rows = height // luma_rows
    y_plane = buffer[:luma * height].reshape(height, luma)[:, :width]
    end = luma * height + chroma * chroma_rows
    chroma_plane = buffer[luma * height:end].reshape(chroma_rows, chroma)[:, :width * chroma_bytes]
    return np.concatenate([y_plane, chroma_plane.reshape(-1, width)])


def unpack_pixels(data, height, width, step, encoding, big_endian=False):
    """
    Read the pixels of a raw image buffer (a sensor_msgs/Image's fields), dropping row padding.

    16-bit versions of the encodings in :data:`WIDE` (e.g. ``rgb16``, ``mono16``) are reduced
    to their high byte; semi-planar images (``nv12``, ``nv21``, ``nv24``) are converted to RGB.

    :param data: the buffer, ``step`` bytes per row (layouts: this module's docstring).
    :param encoding: a supported encoding or its 16-bit version.
    :return: (H x W x C or H x W uint8 array, the encoding it is read as); a copy.
    :raises UnsupportedEncoding: for any other encoding.
    :raises ValueError: when size, step and data length disagree.
    """
    base = eight_bit_encoding(encoding)
    if not base:
        raise UnsupportedEncoding(f'unsupported image encoding {encoding!r}; supported: '
                                  f'{", ".join(IMAGE_ENCODINGS)}')
    wide = base != encoding and encoding not in PLANAR
    height, width, step = int(height), int(width), int(step)
    channels = CHANNELS.get(encoding if encoding in TO_RGB else base, 1)
    row = width * channels * (2 if wide else 1)
    if height == 0 or width == 0:
        raise ValueError(f'empty {encoding} image ({width}x{height})')
    if step < row:
        raise ValueError(f'{encoding} image {width}x{height} has step {step}, less than '
                         f'{row} bytes per row')
    if encoding in PACKED_422 and width % 2:
        raise ValueError(f'{encoding} image {width}x{height}: the width must be even (pixel '
                         f'pairs share their chroma)')
    buffer = np.frombuffer(memoryview(data), dtype=np.uint8)
    if encoding in PLANAR:
        return to_rgb(unpack_planar(buffer, height, width, step, encoding), encoding), base
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
