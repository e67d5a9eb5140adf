"""Per-pixel minimum reprojection with auto-masking (Monodepth2, used by DeFeat-Net)."""

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Reprojection:
    """Result of choosing, per target pixel, the source that explains it best."""

    loss: torch.Tensor
    """B x 1 x H x W chosen error (identity error where auto-masked)."""
    source: torch.Tensor
    """B x 1 x H x W long, index of the source with the lowest reprojection error."""
    automask: torch.Tensor
    """B x 1 x H x W float, 1 where a warped source beats every unwarped source."""


class MinReprojection(nn.Module):
    """
    Combine S per-source error maps into one.

    ``use_minimum`` takes the per-pixel minimum over sources (occlusion-robust) instead of the
    mean. ``automask`` also offers the *unwarped* sources' identity errors to the minimum, so
    pixels that look the same without any warp (static camera, objects moving with the camera,
    textureless sky) fall back to an error with no gradient. ``identity_noise`` breaks exact ties
    in favour of neither side.
    """

    def __init__(self, use_minimum=True, automask=True, identity_noise=1e-5):
        super().__init__()
        self.use_minimum = use_minimum
        self.automask = automask
        self.identity_noise = identity_noise

    def forward(self, reprojection, identity):
        """reprojection, identity: B x S x H x W error maps -> :class:`Reprojection`."""
        best, source = reprojection.min(dim=1, keepdim=True)
        loss = best if self.use_minimum else reprojection.mean(dim=1, keepdim=True)
        if not self.automask:
            return Reprojection(loss, source, torch.ones_like(loss))
        identity = identity + self.identity_noise * torch.randn_like(identity)
        identity_best = identity.min(dim=1, keepdim=True).values
        automask = (loss < identity_best).to(loss.dtype)
        return Reprojection(torch.minimum(loss, identity_best), source, automask)
