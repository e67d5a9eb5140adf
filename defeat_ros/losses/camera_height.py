"""
Metric scale from the camera's mounting height, in training: the road plane at a known height.

Monocular self-supervision recovers depth and motion up to one unknown scale. Where the vehicle
records no speed (see :mod:`defeat_ros.losses.velocity`), the road still fixes it: it is a plane
at the camera's known mounting height below the camera. Per image, the plane fit of
:mod:`defeat_ros.ground_plane` (the one that scales depth at run time) on the detached depth
gives the camera's height above the road, so ``camera_height / height`` is the factor that makes
that image metric. As with velocity supervision (:mod:`defeat_ros.losses.velocity`), the loss
acts on PoseNet's translations: it pulls the log length of each of the image's translations by
that factor, and the photometric warp carries the scale to depth. A gradient on depth itself
bent the road out of its plane (through a plane fitted differentiably to the road pixels, or
moving every pixel's log depth alike: the sigmoid depth head cannot change scale uniformly),
until no plane was found and the loss had nothing left to supervise; fine-tuned so, a model
lost its depth (median-scaled AbsRel 0.26 -> 0.43 in 60 steps) while the criterion improved.
The error is squared: the plane fit scatters by a few per cent from image to image, and an
absolute error's gradient, as large for 1 % as for 100 %, made the translations' scale (and
after it the depth) random-walk around the right one.
"""

import math

from defeat_ros.ground_plane import fit_ground_plane, ground_region
import torch
from torch import nn

MIN_LENGTH = 1e-6
"""Translation lengths are clamped to this (in depth's unit) before their logarithm."""


class CameraHeightLoss(nn.Module):
    """
    Mean over the images with a ground plane of ``log(height / camera_height)`` squared.

    Its gradient scales the translation lengths of such an image (module doc); depth gets none.

    :param camera_height: the camera centre's height above the road, in the unit depth is
        meant to have (metres).
    :param rows: fraction of the image height, counted from the bottom, where the road is seen.
    :param tolerance: inlier band as a fraction of the plane's height.
    :param fit_options: the other options of :func:`~defeat_ros.ground_plane.fit_ground_plane`.
    """

    def __init__(self, camera_height=1.65, rows=0.4, tolerance=0.05, **fit_options):
        super().__init__()
        self.camera_height = camera_height
        self.rows = rows
        self.tolerance = tolerance
        self.fit_options = fit_options

    def forward(self, depth, k_norm, poses):
        """
        Return the loss (0-d, squared log units): 0 when no image shows a ground plane.

        :param depth: B x 1 x H x W depth at full resolution (only measured: no gradient).
        :param k_norm: B x 3 x 3 intrinsics normalised by image size.
        :param poses: S transforms T_source_target B x 4 x 4 of the image's sources.
        """
        lengths = torch.stack([pose[:, :3, 3].norm(dim=-1) for pose in poses], dim=1)
        terms = []
        for image, k, length in zip(depth.detach(), k_norm, lengths):
            height = self.height(image[0], k)
            if height is None:
                continue
            log_length = length.clamp(min=MIN_LENGTH).log()
            # the value is log(height / camera_height)^2; the gradient scales the translations
            target = log_length.detach() + math.log(self.camera_height / height)
            terms.append((log_length - target).mean().square())
        return torch.stack(terms).mean() if terms else depth.new_zeros(())

    def height(self, depth, k_norm):
        """
        Return the camera's height above the ground plane of one H x W depth map, or None.

        None when the fit finds no plane below the camera.
        """
        points, valid = ground_region(depth, k_norm, self.rows)
        fixed = points[valid].to('cpu', torch.float64).numpy()
        plane = fit_ground_plane(fixed, self.tolerance, **self.fit_options)
        return None if plane is None else float(plane.height)
