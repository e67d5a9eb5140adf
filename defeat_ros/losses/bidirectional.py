"""
Bidirectional weighted consistency losses (Wang, RCAR 2021, seed 001).

For a target/source pair with depth predicted for both views:

* photometric loss in both directions (target from source and source from target), each
  weighted by 1 - M_occ (forward-backward camera-flow occlusion mask) and by adaptive weights
  W = 1 - depth difference;
* depth-structure consistency: the mean normalised depth difference in both directions;
* feature perception: L1 between encoder features and warped encoder features, both ways.
"""

from dataclasses import dataclass

from defeat_ros.geometry import (correspondences, in_view, invert_pose, pixel_grid, reproject,
                                 resize, sample, scale_intrinsics)
from defeat_ros.losses.photometric import masked_mean, PhotometricError
import torch
from torch import nn


def camera_flow(pixels):
    """Rigid flow B x 2 x H x W from each pixel centre to its correspondence ``pixels``."""
    h, w = pixels.shape[-2:]
    return pixels - pixel_grid(h, w, pixels)[:2].view(1, 2, h, w)


def occlusion_mask(flow, backward_flow, alpha1=0.01, alpha2=0.5):
    """
    Forward-backward check: 1 where |u + u_hat|^2 > alpha1 (|u|^2 + |u_hat|^2) + alpha2.

    ``flow`` is B x 2 x H x W from this view to the other; ``backward_flow`` is the other view's
    flow sampled at the correspondences, so it should cancel ``flow`` where nothing is occluded.
    """
    mismatch = ((flow + backward_flow) ** 2).sum(dim=1, keepdim=True)
    bound = alpha1 * ((flow ** 2).sum(dim=1, keepdim=True)
                      + (backward_flow ** 2).sum(dim=1, keepdim=True)) + alpha2
    return (mismatch > bound).to(flow.dtype)


def depth_difference(projected_depth, other_depth, pixels):
    """
    Normalised difference |z' - D'(c)| / (z' + D'(c)) in [0, 1], B x 1 x H x W.

    z' (``projected_depth``) is the depth of this view's points seen from the other camera,
    D'(c) the other view's predicted depth sampled at the correspondences ``pixels``.
    """
    sampled = sample(other_depth, pixels)
    return (projected_depth - sampled).abs() / (projected_depth + sampled).clamp(min=1e-7)


@dataclass
class BidirectionalTerms:
    """Scalar terms and the forward-direction occlusion mask (B x 1 x H x W) for inspection."""

    photometric: torch.Tensor
    depth_consistency: torch.Tensor
    feature_perception: torch.Tensor
    occlusion: torch.Tensor


class BidirectionalConsistency(nn.Module):
    """The seed-001 terms for one target/source pair, in both directions."""

    def __init__(self, alpha1=0.01, alpha2=0.5, error=None):
        super().__init__()
        self.alpha1 = alpha1
        self.alpha2 = alpha2
        self.error = error or PhotometricError()

    def one_way(self, image, other_image, depth, other_depth, t_other_self, t_self_other, k_pix):
        """Weighted error of reconstructing ``image`` from ``other_image``; returns 4 maps."""
        pixels, projected_depth = reproject(depth, t_other_self, k_pix)
        valid = in_view(pixels, projected_depth)
        other_pixels, _ = reproject(other_depth, t_self_other, k_pix)
        occluded = occlusion_mask(camera_flow(pixels), sample(camera_flow(other_pixels), pixels),
                                  self.alpha1, self.alpha2)
        difference = depth_difference(projected_depth, other_depth, pixels)
        error = self.error(sample(other_image, pixels), image)
        return error * (1 - difference), difference, valid * (1 - occluded), occluded

    def forward(self, target, source, depth, source_depth, t_source_target, k_norm,
                encoder_features=None, source_encoder_features=None):
        """
        Terms for images B x 3 x H x W, depths B x 1 x H x W, T B x 4 x 4, K_norm B x 3 x 3.

        Encoder features (B x C x h x w, any stride) enable the feature-perception term.
        """
        h, w = target.shape[-2:]
        k_pix = scale_intrinsics(k_norm, h, w)
        t_target_source = invert_pose(t_source_target)
        fwd = self.one_way(target, source, depth, source_depth, t_source_target, t_target_source,
                           k_pix)
        bwd = self.one_way(source, target, source_depth, depth, t_target_source, t_source_target,
                           k_pix)
        photometric = masked_mean(fwd[0], fwd[2]) + masked_mean(bwd[0], bwd[2])
        consistency = masked_mean(fwd[1], fwd[2]) + masked_mean(bwd[1], bwd[2])
        perception = torch.zeros_like(photometric)
        if encoder_features is not None:
            perception = (self.perception(encoder_features, source_encoder_features, depth,
                                          t_source_target, k_norm)
                          + self.perception(source_encoder_features, encoder_features,
                                            source_depth, t_target_source, k_norm))
        return BidirectionalTerms(photometric, consistency, perception, fwd[3])

    @staticmethod
    def perception(features, other_features, depth, t_other_self, k_norm):
        """Mean L1 between features B x C x h x w and the other view's features warped here."""
        h, w = features.shape[-2:]
        depth_small = resize(depth, h, w)
        pixels, valid = correspondences(depth_small, t_other_self, scale_intrinsics(k_norm, h, w))
        return masked_mean((sample(other_features, pixels) - features).abs(), valid)
