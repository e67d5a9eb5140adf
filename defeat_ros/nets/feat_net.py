"""FeatNet: dense, per-pixel L2-normalised n-dimensional features at full resolution."""

from defeat_ros.nets.resnet_encoder import ResnetEncoder
from defeat_ros.nets.skip_decoder import SkipDecoder
from torch import nn
import torch.nn.functional as F


class FeatNet(nn.Module):
    """Input B x 3 x H x W RGB in [0, 1]; output B x n x H x W with unit norm at every pixel."""

    def __init__(self, num_layers=18, feature_dims=32, weights_path=None, width=64):
        super().__init__()
        self.feature_dims = feature_dims
        self.encoder = ResnetEncoder(num_layers, 1, weights_path, width)
        self.decoder = SkipDecoder(self.encoder.channels, feature_dims, (0,), width)

    def forward(self, image):
        """Image B x 3 x H x W -> features B x n x H x W, L2-normalised along channels."""
        return F.normalize(self.decoder(self.encoder(image))[0], dim=1)
