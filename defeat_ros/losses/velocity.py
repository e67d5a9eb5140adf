"""
Velocity supervision (Guizilini et al., PackNet-SfM, CVPR 2020): metric scale from speed.

Monocular self-supervision recovers depth and motion up to one unknown scale. Where the vehicle
records its speed, the distance it travelled between two frames is known (speed x time, see
:mod:`defeat_ros.data.travel`); penalising the difference between the length of PoseNet's
translation and that distance fixes the scale of the poses and, through the photometric warp,
of the depth.
"""

import torch
from torch import nn


class VelocitySupervision(nn.Module):
    """
    Mean absolute difference between the translation lengths and the distances travelled.

    :param tolerance: relative error ``|‖t‖ - d| / d`` that costs nothing (the accuracy of the
        speed sensor); 0 penalises every difference.
    """

    def __init__(self, tolerance=0.0):
        super().__init__()
        self.tolerance = tolerance

    def forward(self, poses, distances):
        """
        Return the loss in metres (0-d).

        :param poses: S transforms T_source_target B x 4 x 4 (metres).
        :param distances: B x S metres travelled from the target to each source; NaN where
            unknown (such pairs are left out).
        :return: the mean of ``max(0, |‖t‖ - d| - tolerance * d)`` over the pairs with a known
            distance; 0 when there is none.
        """
        lengths = torch.stack([pose[:, :3, 3].norm(dim=-1) for pose in poses], dim=1)
        known = torch.isfinite(distances)
        if not known.any():
            return lengths.new_zeros(())
        distance = distances[known]
        error = (lengths[known] - distance).abs() - self.tolerance * distance
        return error.clamp(min=0).mean()
