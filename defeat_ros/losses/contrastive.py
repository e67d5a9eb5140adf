"""Pixel-wise contrastive loss with positives from warp correspondences (DeFeat-Net)."""

import math

from defeat_ros.geometry import sample
import torch
from torch import nn


def contrastive_terms(anchors, positives, negatives, margin):
    """
    Evaluate the contrastive loss on explicit samples.

    l = 1/2 d^2 for a positive pair and 1/2 max(0, m - d)^2 for a negative pair, d the Euclidean
    distance between features.

    :param anchors: N x n target features.
    :param positives: N x n corresponding source features.
    :param negatives: N x K x n non-corresponding source features.
    :param margin: m.
    :return: (positive, negative): N positive losses and N x K negative losses.
    """
    positive = 0.5 * (anchors - positives).norm(dim=-1) ** 2
    distance = (anchors.unsqueeze(1) - negatives).norm(dim=-1)
    negative = 0.5 * torch.clamp(margin - distance, min=0) ** 2
    return positive, negative


def gather_pixels(feature_map, pixels):
    """Bilinear features at pixel coordinates: B x n x H x W, B x 2 x P -> B x P x n."""
    return sample(feature_map, pixels.unsqueeze(-1)).squeeze(-1).transpose(1, 2)


class PixelwiseContrastiveLoss(nn.Module):
    """
    Pull corresponding features together, push random non-correspondences beyond a margin.

    Positives: ``num_positives`` target pixels per image drawn from the pixels that count
    (``mask``), paired with the source feature at their warp correspondence. Negatives:
    ``num_negatives`` source locations per positive, drawn over the whole image
    (``negative_radius=0``, "global") or within ``negative_radius`` pixels of the true
    correspondence but at least ``min_negative_distance`` from it ("local").
    Loss = mean positive term + mean negative term.
    """

    def __init__(self, margin=0.5, num_positives=1024, num_negatives=10, negative_radius=0,
                 min_negative_distance=3.0):
        super().__init__()
        self.margin = margin
        self.num_positives = num_positives
        self.num_negatives = num_negatives
        self.negative_radius = negative_radius
        self.min_negative_distance = min_negative_distance

    def sample_negatives(self, matches, height, width):
        """Negative source pixels B x 2 x (P*K) around (or away from) matches B x 2 x P."""
        b, _, p = matches.shape
        k = self.num_negatives
        if self.negative_radius <= 0:
            uniform = torch.rand(b, 2, p * k, device=matches.device, dtype=matches.dtype)
            return uniform * matches.new_tensor([width, height]).view(1, 2, 1)
        low = self.min_negative_distance
        high = max(self.negative_radius, low)
        radius = low + (high - low) * torch.rand(b, 1, p * k, device=matches.device)
        angle = 2 * math.pi * torch.rand(b, 1, p * k, device=matches.device)
        offset = radius * torch.cat([angle.cos(), angle.sin()], dim=1)
        negatives = matches.repeat_interleave(k, dim=2) + offset.to(matches.dtype)
        limit = matches.new_tensor([width, height]).view(1, 2, 1)
        return torch.minimum(negatives.clamp(min=0), limit)

    def forward(self, features, source_features, matches, mask):
        """
        Scalar loss.

        :param features: B x n x H x W target features.
        :param source_features: B x n x H x W source features.
        :param matches: B x 2 x H x W source pixel coordinates of each target pixel.
        :param mask: B x 1 x H x W float, target pixels whose correspondence counts.
        """
        b, n, h, w = features.shape
        weights = mask.view(b, -1) + 1e-12  # never all zero: multinomial needs mass
        index = torch.multinomial(weights, self.num_positives, replacement=True)  # B x P
        chosen = torch.gather(mask.view(b, -1), 1, index)  # 1 where the draw was a real pixel
        anchors = torch.gather(features.view(b, n, -1), 2, index.unsqueeze(1).expand(b, n, -1))
        match_xy = torch.gather(matches.view(b, 2, -1), 2, index.unsqueeze(1).expand(b, 2, -1))
        positives = gather_pixels(source_features, match_xy)
        negatives = gather_pixels(source_features, self.sample_negatives(match_xy, h, w))
        positive, negative = contrastive_terms(
            anchors.transpose(1, 2).reshape(-1, n),
            positives.reshape(-1, n),
            negatives.reshape(b * self.num_positives, self.num_negatives, n),
            self.margin)
        chosen = chosen.reshape(-1)
        count = chosen.sum() + 1e-7
        return ((positive * chosen).sum() + (negative.mean(dim=1) * chosen).sum()) / count
