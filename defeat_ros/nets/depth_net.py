"""DepthNet: ResNet encoder + skip decoder -> sigmoid disparity at four scales."""

import math

from defeat_ros.nets.resnet_encoder import ResnetEncoder
from defeat_ros.nets.skip_decoder import SkipDecoder
import torch
from torch import nn

DEPTH_SCALES = (0, 1, 2, 3)


def disparity_to_depth(disparity, min_depth, max_depth):
    """Map sigmoid disparity in [0, 1] linearly onto [1/max_depth, 1/min_depth]; return depth."""
    min_disp = 1.0 / max_depth
    max_disp = 1.0 / min_depth
    return 1.0 / (min_disp + (max_disp - min_disp) * disparity)


class DepthNet(nn.Module):
    """Monocular depth. Input B x 3 x H x W RGB in [0, 1] (H, W multiples of 32)."""

    def __init__(self, num_layers=18, min_depth=0.1, max_depth=100.0, weights_path=None,
                 width=64, initial_depth=0.0):
        super().__init__()
        self.min_depth = min_depth
        self.max_depth = max_depth
        self.encoder = ResnetEncoder(num_layers, 1, weights_path, width)
        self.decoder = SkipDecoder(self.encoder.channels, 1, DEPTH_SCALES, width)
        if initial_depth:
            disparity = (1 / initial_depth - 1 / max_depth) / (1 / min_depth - 1 / max_depth)
            with torch.no_grad():
                for head in self.decoder.heads.values():
                    head[1].bias.fill_(math.log(disparity / (1 - disparity)))

    def forward(self, image):
        """Return a list of 4 disparities B x 1 x H/2^s x W/2^s in [0, 1], s = 0..3."""
        return self.decode(self.encoder(image))

    def decode(self, features):
        """Decode encoder feature maps into 4 sigmoid disparities (largest first)."""
        return [disp.sigmoid() for disp in self.decoder(features)]

    def depth(self, image):
        """Full-resolution metric depth B x 1 x H x W in [min_depth, max_depth]."""
        return disparity_to_depth(self.forward(image)[0], self.min_depth, self.max_depth)
