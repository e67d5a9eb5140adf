"""
The flat-ground prior: the depth a level camera would see if the world were an empty road.

A trivial baseline a monocular depth model must beat on real driving frames. Every pixel's ray
(corner convention, :mod:`defeat_ros.geometry`) meets a horizontal plane ``camera_height``
below the camera (optical y down) where its y over z reaches ``camera_height`` over depth: in
OpenCV pixel coordinates (centres at integers) row ``v`` below the principal point's row ``cy``
sees the road at depth ``camera_height * fy / (v - cy)``. Rays at or above the horizon, and
road farther than ``max_depth``, take ``max_depth``. The depth is along the optical axis (z),
as the package's ground truth is.
"""

from defeat_ros.geometry import backproject, scale_intrinsics
import torch

CAMERA_HEIGHT = 1.65
"""Height (m) of KITTI's colour cameras above the road."""

FAR_DEPTH = 40.0
"""Depth (m) of the horizon and of everything above it."""


def flat_ground_depth(k_norm, height, width, camera_height=CAMERA_HEIGHT, max_depth=FAR_DEPTH):
    """
    Depth H x W (float32, metres) of a road plane ``camera_height`` below a level camera.

    :param k_norm: 3 x 3 normalised intrinsics (corner convention) of the image.
    :param height: image height in pixels.
    :param width: image width in pixels.
    :param camera_height: distance of the camera centre above the road.
    :param max_depth: depth of pixels at or above the horizon; nearer road keeps its depth.
    :return: H x W tensor: ``camera_height / y`` where a unit-depth ray's y is positive (below
        the horizon), clamped to ``max_depth``; ``max_depth`` elsewhere.
    """
    k_pix = scale_intrinsics(k_norm.to(torch.float64), height, width)
    ones = torch.ones(1, 1, height, width, dtype=torch.float64)
    down = backproject(ones, k_pix[None])[0, 1]  # y of each ray at z = 1
    depth = torch.full_like(down, max_depth)
    below = down > camera_height / max_depth
    depth[below] = camera_height / down[below]
    return depth.float()
