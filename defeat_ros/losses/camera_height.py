"""
Metric scale from the camera's mounting height, in training: the road plane at a known height.

Monocular self-supervision recovers depth and motion up to one unknown scale. Where the vehicle
records no speed (see :mod:`defeat_ros.losses.velocity`), the road still fixes it: it is a plane
at the camera's known mounting height below the camera. Per image, the plane fit of
:mod:`defeat_ros.ground_plane` (the one that scales depth at run time) on the detached depth
chooses the ground's inliers; a least-squares plane through those points of the predicted depth
gives the camera's height above the road, differentiable in depth, and the loss pulls it
towards the mounting height. The choice of inliers gets no gradient.
"""

from defeat_ros.ground_plane import fit_ground_plane, ground_region, within_band
import torch
from torch import nn


def height_above_plane(points):
    """
    Distance of the camera centre to the least-squares plane of M x 3 points (0-d).

    Ordinary least squares of the vertical (optical y) on x and z, ``y = a x + b z + c``: the
    ground is within a few degrees of level, so y is a function of x and z; the distance of the
    origin to that plane is ``c / sqrt(1 + a^2 + b^2)``. Differentiable in ``points``.
    """
    mean = points.mean(dim=0)
    centred = points - mean
    across = centred[:, [0, 2]]
    slopes = torch.linalg.solve(across.T @ across, across.T @ centred[:, 1])
    offset = mean[1] - mean[[0, 2]] @ slopes
    return offset / torch.sqrt(1.0 + slopes.square().sum())


class CameraHeightLoss(nn.Module):
    """
    Mean over the images with a ground plane of ``|log(height / camera_height)|``.

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
        heights = [self.height(image[0], k) for image, k in zip(depth, k_norm)]
        heights = [height for height in heights if height is not None]
        if not heights:
            return depth.new_zeros(())
        return (torch.stack(heights) / self.camera_height).log().abs().mean()

    def height(self, depth, k_norm):
        """
        Return the camera's height above the ground plane of one H x W depth map, or None.

        None when the fit on the detached depth finds no plane, or the least-squares plane
        through its inliers does not lie below the camera.
        """
        points, valid = ground_region(depth, k_norm, self.rows)
        points = points[valid]
        fixed = points.detach().to('cpu', torch.float64).numpy()
        plane = fit_ground_plane(fixed, self.tolerance, **self.fit_options)
        if plane is None:
            return None
        inliers = within_band(fixed, plane.normal, plane.height, self.tolerance)
        height = height_above_plane(points[torch.from_numpy(inliers).to(points.device)])
        return height if height > 0 else None
