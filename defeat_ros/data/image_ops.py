"""
Image files, crops and resampling for the datasets (numpy in, numpy or tensors out).

Colour images are RGB uint8 H x W x 3 until they become tensors (3 x H x W float32 in [0, 1]).
Depth maps are float32 H x W metres with 0 where there is no depth. Intrinsics are normalised
by image size in the corner convention of :mod:`defeat_ros.geometry`, so resizing leaves them
unchanged and only a crop changes them. Label maps are uint8 H x W class ids (Cityscapes
label-file ids as stored, or train ids, see :mod:`defeat_ros.semantics`), resampled only by
nearest neighbour so that no id is invented.
"""

from dataclasses import dataclass
from pathlib import Path

import cv2
from defeat_ros.messages.decode import decode_compressed
import numpy as np

KITTI_DEPTH_SCALE = 256.0
"""KITTI depth-benchmark PNGs store uint16 metres * 256, 0 meaning no depth."""


def read_rgb(path):
    """
    Read an image file as RGB uint8 H x W x 3, decoded as compressed images are.

    The bytes go through :func:`~defeat_ros.messages.decode.decode_compressed`: grey images are
    replicated to three channels, an alpha channel is dropped, 16-bit images keep their 8 most
    significant bits and an EXIF orientation is ignored (pixels as stored).

    :param path: image file (anything OpenCV decodes: PNG, JPEG, ...).
    :return: H x W x 3 uint8 RGB.
    :raises OSError: when the file is missing or cannot be decoded.
    """
    try:
        return decode_compressed(Path(path).read_bytes(), f'image {path}')
    except ValueError as error:
        raise OSError(str(error)) from None


def opencv_to_rgb(image):
    """Convert an 8-bit image as OpenCV decodes it (grey, BGR, BGRA) to RGB H x W x 3."""
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2RGB)
    code = cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(image, code)


def eight_bit(image, where):
    """Return a uint8 image: 16-bit images keep their 8 most significant bits."""
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    if image.dtype != np.uint8:
        raise ValueError(f'{where}: unsupported pixel type {image.dtype}')
    return image


def read_unchanged(path):
    """
    Read an image file as stored (grey or BGR, 8 bits: 16-bit images are shifted down).

    :param path: image file.
    :return: H x W or H x W x C uint8.
    :raises OSError: when the file is missing or cannot be decoded.
    :raises ValueError: for pixels other than 8 or 16 bits.
    """
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise OSError(f'cannot read image {path}')
    return eight_bit(image, path)


def read_kitti_depth(path):
    """
    Read a KITTI depth-benchmark PNG (uint16 metres * 256, 0 = no depth).

    :param path: the PNG file.
    :return: float32 H x W metres, 0 where there is no depth.
    :raises OSError: when the file is missing or not a 16-bit single-channel PNG.
    """
    encoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if encoded is None:
        raise OSError(f'cannot read depth image {path}')
    if encoded.dtype != np.uint16 or encoded.ndim != 2:
        raise OSError(f'{path}: expected a single-channel uint16 depth PNG, got '
                      f'{encoded.dtype} with shape {encoded.shape}')
    return encoded.astype(np.float32) / np.float32(KITTI_DEPTH_SCALE)


def resize_rgb(image, height, width):
    """
    Resize an RGB uint8 image: the one resize of camera images to a network's input.

    Training samples, Perception (node, process-bag) and evaluation all resize with it, so a
    model sees the same pixels wherever its input comes from. Area interpolation when the image
    is wider than the output (shrinking), bilinear otherwise; a no-op at the same size.

    :param image: H x W x 3 uint8.
    :param height: output height in pixels.
    :param width: output width in pixels.
    :return: height x width x 3 uint8.
    """
    if image.shape[:2] == (height, width):
        return image
    shrinking = image.shape[1] > width
    return cv2.resize(image, (width, height),
                      interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def valid_depth(depth):
    """Return float32 depth with 0 wherever it is not finite and positive (inf, NaN, <= 0)."""
    depth = np.asarray(depth, dtype=np.float32)
    return np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(0.0))


def resize_depth(depth, height, width):
    """
    Resize a (possibly sparse) depth map without inventing depths.

    Shrinking keeps, in each output pixel, the nearest valid depth among the input pixels whose
    centres fall into it (so sparse lidar points survive); enlarging takes the nearest input
    pixel. Invalid depths (0, inf, NaN) become 0.

    :param depth: H x W metres.
    :param height: output height.
    :param width: output width.
    :return: float32 height x width metres, 0 where there is no depth.
    """
    depth = valid_depth(depth)
    in_height, in_width = depth.shape
    if (in_height, in_width) == (height, width):
        return depth
    if height > in_height or width > in_width:
        return cv2.resize(depth, (width, height), interpolation=cv2.INTER_NEAREST)
    rows, cols = np.nonzero(depth > 0)
    out_rows = np.minimum(((rows + 0.5) * height / in_height).astype(np.int64), height - 1)
    out_cols = np.minimum(((cols + 0.5) * width / in_width).astype(np.int64), width - 1)
    nearest = np.full(height * width, np.inf, dtype=np.float32)
    np.minimum.at(nearest, out_rows * width + out_cols, depth[rows, cols])
    return np.where(np.isfinite(nearest), nearest, np.float32(0.0)).reshape(height, width)


def read_labels(path):
    """
    Read a label PNG: uint8 ids, one channel (a grey PNG, or the first channel as stored).

    :param path: the PNG file (Cityscapes ``*_labelIds.png`` style: one id per pixel).
    :return: uint8 H x W.
    :raises OSError: when the file is missing, cannot be decoded or is not 8-bit.
    """
    labels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if labels is None:
        raise OSError(f'cannot read label image {path}')
    if labels.dtype != np.uint8:
        raise OSError(f'{path}: expected an 8-bit label PNG, got {labels.dtype}')
    return labels if labels.ndim == 2 else np.ascontiguousarray(labels[..., 0])


def resize_labels(labels, height, width):
    """
    Resize a label map with nearest-neighbour sampling (never mixing ids).

    Output pixel centres sample the input pixel they fall in (OpenCV's ``INTER_NEAREST_EXACT``:
    the same geometry as the area resize of the frames), so labels stay aligned with them.

    :param labels: uint8 H x W ids.
    :param height: output height.
    :param width: output width.
    :return: uint8 height x width (the input itself at the same size).
    """
    labels = np.asarray(labels)
    if labels.shape[:2] == (height, width):
        return labels
    return cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)


def rgb_array(image):
    """Convert RGB uint8 H x W x 3 to a contiguous float32 array 3 x H x W in [0, 1]."""
    return np.asarray(image).transpose(2, 0, 1).astype(np.float32, order='C') / np.float32(255)


def rgb_tensor(image):
    """Convert RGB uint8 H x W x 3 to a float32 tensor 3 x H x W in [0, 1] (:func:`rgb_array`)."""
    import torch
    return torch.from_numpy(rgb_array(image))


@dataclass
class Crop:
    """Pixels removed from each border of an image, before any resizing."""

    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0

    @classmethod
    def from_list(cls, values):
        """Build from ``[top, bottom, left, right]`` (a config field), checking the values."""
        values = [int(v) for v in values]
        if len(values) != 4 or min(values) < 0:
            raise ValueError(f'a crop is [top, bottom, left, right] pixels >= 0, got {values}')
        return cls(*values)

    def apply(self, image):
        """Crop an H x W (x C) array."""
        height, width = image.shape[:2]
        if self.top + self.bottom >= height or self.left + self.right >= width:
            raise ValueError(f'crop {self} leaves nothing of a {width}x{height} image')
        return image[self.top:height - self.bottom, self.left:width - self.right]

    def intrinsics(self, k_norm, height, width):
        """
        Return the normalised intrinsics of the cropped image.

        :param k_norm: 3 x 3 normalised intrinsics of the uncropped H x W image.
        :param height: uncropped height in pixels.
        :param width: uncropped width in pixels.
        :return: 3 x 3 normalised intrinsics of the crop (the corner convention makes a crop
            a pure shift of the principal point, in pixels, by the left and top margins).
        """
        import torch
        new_width = width - self.left - self.right
        new_height = height - self.top - self.bottom
        k = k_norm.detach().to(torch.float64).clone()
        k[0, 0] = k[0, 0] * width / new_width
        k[1, 1] = k[1, 1] * height / new_height
        k[0, 2] = (k[0, 2] * width - self.left) / new_width
        k[1, 2] = (k[1, 2] * height - self.top) / new_height
        return k.to(torch.float32)
