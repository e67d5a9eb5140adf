"""
Metric scale from the camera's mounting height, in training: the road plane at a known height.

Monocular self-supervision recovers depth and motion up to one unknown scale. Where the vehicle
records no speed (see :mod:`defeat_ros.losses.velocity`), the road still fixes it: it is a plane
at the camera's known mounting height below the camera. Per image, the plane fit of
:mod:`defeat_ros.ground_plane` (the one that scales depth at run time) on the detached depth
gives the camera's height above the road, so ``camera_height / height`` is the factor that makes
that image's depth metric. The loss pulls the log depth of every pixel of the image by that
factor, the same for all: it moves the image's scale and nothing else. A gradient on the road
pixels alone (through a plane fitted differentiably to them) bends the road out of its plane
before the rest of the image follows, until no plane is found and the loss has nothing left to
supervise: a model fine-tuned that way lost its depth (AbsRel 0.13 -> 0.59) with its scale
unchanged.
"""

from defeat_ros.ground_plane import fit_ground_plane, ground_region
import torch
from torch import nn


class CameraHeightLoss(nn.Module):
    """
    Mean over the images with a ground plane of ``|log(height / camera_height)|``.

    Its gradient moves every pixel's log depth of such an image by the same amount (module
    doc).

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

    def forward(self, depth, k_norm):
        """
        Return the loss (0-d, in log units): 0 when no image shows a ground plane.

        :param depth: B x 1 x H x W depth at full resolution.
        :param k_norm: B x 3 x 3 intrinsics normalised by image size.
        """
        terms = []
        for image, k in zip(depth, k_norm):
            height = self.height(image[0].detach(), k)
            if height is None:
                continue
            known = torch.isfinite(image) & (image > 0)
            log_depth = image[known].log()
            # the value is |log(height / camera_height)|; the gradient, that image's scale
            shift = log_depth - log_depth.detach() + torch.log(
                torch.as_tensor(height / self.camera_height, dtype=image.dtype))
            terms.append(shift.mean().abs())
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
