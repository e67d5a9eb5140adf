"""PoseNet: relative 6-DoF motion between two frames (and SfMLearner's explainability mask)."""

from defeat_ros.nets.depth_net import DEPTH_SCALES
from defeat_ros.nets.resnet_encoder import ResnetEncoder
from defeat_ros.nets.skip_decoder import SkipDecoder
import torch
from torch import nn
import torch.nn.functional as F

POSE_SCALE = 0.01
"""Factor on the raw pose outputs (Monodepth2's, for small motions early in training)."""


class PoseNet(nn.Module):
    """
    Separate ResNet on the 6-channel pair (frame_a, frame_b).

    ``forward(frame_a, frame_b)`` returns (axis_angle B x 3, translation B x 3) of ``T_b_a``: the
    transform that maps points from frame a's camera into frame b's camera. With
    ``explainability=True`` a skip decoder on the same encoder also predicts, for every pixel of
    frame a, the probability that it can be explained by a rigid warp from frame b (SfMLearner).
    ``stride`` 2 average-pools the pair to half resolution before the encoder.
    """

    def __init__(self, num_layers=18, weights_path=None, explainability=False, width=64,
                 output_scale=POSE_SCALE, stride=1, decoder='monodepth'):
        super().__init__()
        self.output_scale = output_scale
        self.stride = stride
        self.encoder = ResnetEncoder(num_layers, 2, weights_path, width)
        hidden = 4 * width
        self.decoder = nn.Sequential(
            nn.Conv2d(self.encoder.channels[-1], hidden, 1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 6, 1),
        )
        # An untrained PoseNet predicts no motion at all. Velocity supervision grows the
        # translation along its current direction: from a random start it can lock in a
        # sideways or backward motion that the photometric loss never undoes (models/README.md).
        nn.init.zeros_(self.decoder[-1].weight)
        nn.init.zeros_(self.decoder[-1].bias)
        self.mask_decoder = (SkipDecoder(self.encoder.channels, 1, DEPTH_SCALES, width,
                                         style=decoder)
                             if explainability else None)

    def encode(self, frame_a, frame_b):
        """Two frames B x 3 x H x W -> encoder feature maps of the stacked pair."""
        pair = torch.cat([frame_a, frame_b], dim=1)
        if self.stride != 1:
            pair = F.avg_pool2d(pair, self.stride)
        return self.encoder(pair)

    def pose(self, features):
        """Decode (axis_angle B x 3, translation B x 3) from encoder maps, times output_scale."""
        out = self.output_scale * self.decoder(features[-1]).mean(dim=(2, 3))
        return out[:, :3], out[:, 3:]

    def explainability(self, features):
        """Decode masks from encoder maps: 4 x B x 1 x H/2^s x W/2^s in (0, 1)."""
        if self.mask_decoder is None:
            raise RuntimeError('this PoseNet was built without an explainability decoder')
        return [mask.sigmoid() for mask in self.mask_decoder(features)]

    def forward(self, frame_a, frame_b):
        """Return (axis_angle B x 3, translation B x 3) of T_b_a."""
        return self.pose(self.encode(frame_a, frame_b))
