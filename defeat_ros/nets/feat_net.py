"""FeatNet: dense, per-pixel L2-normalised n-dimensional features at full resolution."""

from defeat_ros.nets.resnet_encoder import ResnetEncoder
from defeat_ros.nets.skip_decoder import SkipDecoder
from torch import nn
import torch.nn.functional as F

NORM_FLOOR = 1e-4
"""
Smallest norm normalisation divides by: a normal fp16 number (PyTorch's default, 1e-12, is zero
in an fp16 engine, where an all-zero feature vector would then give 0 / 0). Trained features
have norms of 2-16 before normalisation, so it never changes them."""


class FeatNet(nn.Module):
    """
    Input B x 3 x H x W RGB in [0, 1]; output B x n x H x W with unit norm at every pixel.

    ``encoder_channels`` given (the channels of another network's encoder): no encoder of its
    own; :meth:`decode` then reads that encoder's maps (ModelConfig.shared_encoder).
    ``stride`` 2 decodes to half resolution and upsamples bilinearly (ModelConfig.feature_stride).
    """

    def __init__(self, num_layers=18, feature_dims=32, weights_path=None, width=64,
                 encoder_channels=None, stride=1, decoder='monodepth'):
        super().__init__()
        self.feature_dims = feature_dims
        self.encoder = (ResnetEncoder(num_layers, 1, weights_path, width)
                        if encoder_channels is None else None)
        channels = encoder_channels or self.encoder.channels
        self.stride = stride
        scale = {1: 0, 2: 1}[stride]
        self.decoder = SkipDecoder(channels, feature_dims, (scale,), width, style=decoder)

    def decode(self, maps):
        """Decode encoder maps (strides 2..32) of B x 3 x H x W images into B x n x H x W."""
        features = self.decoder(maps)[0]
        if self.stride != 1:
            features = F.interpolate(features, scale_factor=float(self.stride),
                                     mode='bilinear', align_corners=False)
        return F.normalize(features, dim=1, eps=NORM_FLOOR)

    def forward(self, image):
        """Image B x 3 x H x W -> features B x n x H x W, L2-normalised along channels."""
        if self.encoder is None:
            raise RuntimeError('this FeatNet shares another encoder: call decode on its maps')
        return self.decode(self.encoder(image))
