"""
Undistort images described by a ROS CameraInfo (or camera_calibration YAML) for training.

Self-supervised training warps frames with a pinhole model, so distorted images are remapped
to the rectified camera first, as ``image_proc`` does: ``plumb_bob`` and
``rational_polynomial`` with OpenCV's pinhole model, ``equidistant`` with its fisheye model.
The rectified intrinsics are the left 3 x 3 of the projection ``P`` (``K`` when ``P`` is
empty). Images without distortion (all coefficients 0, identity ``R``) pass through unchanged
with intrinsics ``K``. Pixel intrinsics follow OpenCV (pixel centres at integers) and come out
normalised in the corner convention of :mod:`defeat_ros.geometry`.

Images that are already rectified (``image_proc``'s ``image_rect``) come with the CameraInfo of
the raw camera: ``D``, ``K`` and ``R`` describe the raw images, ``P`` the rectified ones. They
are described by ``Rectifier(width, height, rectified_camera_matrix(k, p))``: intrinsics from
``P`` and no remapping.
"""

import cv2
from defeat_ros.geometry import normalise_intrinsics
import numpy as np

PINHOLE_MODELS = ('plumb_bob', 'rational_polynomial', '')
"""Distortion models OpenCV's pinhole undistortion handles ('' : none given)."""
FISHEYE_MODELS = ('equidistant', 'fisheye')
"""Distortion models OpenCV's fisheye undistortion handles."""


def rectified_camera_matrix(k, p):
    """
    Return the camera matrix of rectified images: the left 3 x 3 of ``P``, else ``K``.

    :param k: 3 x 3 camera matrix (9 numbers, row-major) of the raw camera.
    :param p: 3 x 4 projection (12 numbers, row-major; all zero or empty: unset, use ``k``).
    :return: 3 x 3 float64 array.
    """
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    if p.size == 12 and p.any():
        return p.reshape(3, 4)[:, :3]
    return np.asarray(k, dtype=np.float64).reshape(3, 3)


class Rectifier:
    """
    Map images of a calibrated camera to an undistorted pinhole camera.

    :param width: calibrated image width in pixels.
    :param height: calibrated image height in pixels.
    :param k: 3 x 3 camera matrix (9 numbers, row-major), OpenCV pixel convention.
    :param d: distortion coefficients (any length; empty: none).
    :param model: the CameraInfo ``distortion_model``.
    :param r: 3 x 3 rectification rotation (9 numbers; all zero or empty: identity).
    :param p: 3 x 4 projection (12 numbers; all zero or empty: use ``k``).
    :param where: what the calibration belongs to, for messages.
    """

    def __init__(self, width, height, k, d=(), model='plumb_bob', r=(), p=(), where='camera'):
        """Check the calibration and prepare the undistortion maps when needed."""
        self.width, self.height = int(width), int(height)
        self.where = where
        k = np.asarray(k, dtype=np.float64).reshape(3, 3)
        d = np.asarray(d, dtype=np.float64).reshape(-1)
        r = np.asarray(r, dtype=np.float64).reshape(-1)
        r = np.eye(3) if r.size == 0 or not r.any() else r.reshape(3, 3)
        new_k = rectified_camera_matrix(k, p)
        if k[0, 0] <= 0 or k[1, 1] <= 0 or self.width <= 0 or self.height <= 0:
            raise ValueError(f'{where}: invalid calibration (K = {k.reshape(-1).tolist()}, '
                             f'size {self.width}x{self.height})')
        self.maps = None
        if not d.any() and np.allclose(r, np.eye(3)):
            new_k = k
        elif model in FISHEYE_MODELS:
            self.maps = cv2.fisheye.initUndistortRectifyMap(
                k, d[:4], r, new_k, (self.width, self.height), cv2.CV_32FC1)
        elif model in PINHOLE_MODELS:
            self.maps = cv2.initUndistortRectifyMap(k, d, r, new_k, (self.width, self.height),
                                                    cv2.CV_32FC1)
        else:
            raise ValueError(f'{where}: cannot undistort distortion model {model!r}; supported: '
                             f'{", ".join(m for m in PINHOLE_MODELS + FISHEYE_MODELS if m)}')
        self.k_norm = normalise_intrinsics(new_k[0, 0], new_k[1, 1], new_k[0, 2], new_k[1, 2],
                                           self.width, self.height)
        """3 x 3 float32 normalised intrinsics of the images :meth:`apply` returns."""

    @property
    def identity(self):
        """Whether images pass through unchanged."""
        return self.maps is None

    def apply(self, image, nearest=False):
        """
        Undistort one image of the calibrated size.

        :param image: H x W (x C) array, H x W the calibrated size.
        :param nearest: sample the nearest pixel (for depth) instead of bilinearly.
        :return: the rectified image, same shape and type (0 outside the distorted image).
        """
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(f'{self.where}: image is {image.shape[1]}x{image.shape[0]} but the '
                             f'calibration is for {self.width}x{self.height}')
        if self.maps is None:
            return image
        interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
        return cv2.remap(image, self.maps[0], self.maps[1], interpolation,
                         borderMode=cv2.BORDER_CONSTANT)
