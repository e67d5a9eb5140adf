"""Feature warp loss: reconstruct the target's dense features from the sources' (DeFeat-Net)."""

from defeat_ros.losses.photometric import masked_mean, PhotometricError
from torch import nn


class FeatureWarpLoss(nn.Module):
    """
    SSIM + pointwise error between target features and warped source features.

    Learned features stay discriminative where image intensities do not (night, glare), so this
    term keeps supervising depth and pose there. Per pixel, the source is the one chosen by the
    photometric minimum; only auto-masked, in-view pixels count.
    """

    def __init__(self, error=None):
        super().__init__()
        self.error = error or PhotometricError()

    def forward(self, features, warped_sources, source_index, mask):
        """
        Mean error over mask.

        :param features: B x n x H x W target features.
        :param warped_sources: list of S warped source feature maps B x n x H x W.
        :param source_index: B x 1 x H x W long, the chosen source per pixel.
        :param mask: B x 1 x H x W float, pixels that count.
        """
        errors = [self.error(warped, features) for warped in warped_sources]
        chosen = sum(error * (source_index == i).to(error.dtype) for i, error in enumerate(errors))
        return masked_mean(chosen, mask)
