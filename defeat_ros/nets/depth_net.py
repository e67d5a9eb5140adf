"""
DepthNet: ResNet encoder + skip decoder -> sigmoid disparity at four scales.

Optional decoders share the encoder: TripleDNet's pretext decoder (seed 003,
:mod:`defeat_ros.nets.pretext`), whose maps the depth decoder also reads, so that inference
runs it too (not its task heads), and a semantic segmentation decoder (seed 004), used in
training only.
"""

from dataclasses import dataclass
import math

from defeat_ros.nets.pretext import PretextDecoder
from defeat_ros.nets.resnet_encoder import ResnetEncoder
from defeat_ros.nets.skip_decoder import SkipDecoder
from defeat_ros.semantics import NUM_CLASSES
import torch
from torch import nn

DEPTH_SCALES = (0, 1, 2, 3)


def disparity_to_depth(disparity, min_depth, max_depth):
    """Map sigmoid disparity in [0, 1] linearly onto [1/max_depth, 1/min_depth]; return depth."""
    min_disp = 1.0 / max_depth
    max_disp = 1.0 / min_depth
    return 1.0 / (min_disp + (max_disp - min_disp) * disparity)


@dataclass
class DepthOutputs:
    """Everything DepthNet predicts for one image in training."""

    disparities: list
    """4 sigmoid disparities B x 1 x H/2^s x W/2^s, s = 0..3."""
    pretext: dict = None
    """Task -> (prediction, truth) of the pretext heads (None without them)."""
    segmentation: object = None
    """Class logits B x NUM_CLASSES x H x W (None without the segmentation head)."""


class DepthNet(nn.Module):
    """
    Monocular depth. Input B x 3 x H x W RGB in [0, 1] (H, W multiples of 32).

    :param pretext: ModelConfig.pretext: 'none', or the TripleDNet pretext task(s) whose
        decoder's maps join the depth decoder's skips.
    :param segmentation: add a segmentation decoder (NUM_CLASSES logits at full resolution).
    :param decoder: style of the decoders, one of ``config.DECODERS``.
    """

    def __init__(self, num_layers=18, min_depth=0.1, max_depth=100.0, weights_path=None,
                 width=64, initial_depth=0.0, pretext='none', segmentation=False,
                 decoder='monodepth'):
        super().__init__()
        self.min_depth = min_depth
        self.max_depth = max_depth
        self.encoder = ResnetEncoder(num_layers, 1, weights_path, width)
        self.pretext = (PretextDecoder(self.encoder.channels, pretext, width, decoder)
                        if pretext != 'none' else None)
        distilled = self.pretext.level_channels if self.pretext is not None else None
        self.decoder = SkipDecoder(self.encoder.channels, 1, DEPTH_SCALES, width, distilled,
                                   decoder)
        self.segmentation = (SkipDecoder(self.encoder.channels, NUM_CLASSES, (0,), width,
                                         style=decoder)
                             if segmentation else None)
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
        distilled = self.pretext.maps(features) if self.pretext is not None else None
        return [disp.sigmoid() for disp in self.decoder(features, distilled)]

    def decode_train(self, features, image):
        """
        Decode encoder maps of ``image`` into disparities and every head's outputs.

        :param features: ``self.encoder(image)``.
        :param image: B x 3 x H x W, the encoded image (the pretext tasks' truth).
        :return: :class:`DepthOutputs`.
        """
        out = DepthOutputs(disparities=[])
        distilled = None
        if self.pretext is not None:
            distilled = self.pretext.maps(features)
            out.pretext = self.pretext.predict(distilled, image)
        out.disparities = [disp.sigmoid() for disp in self.decoder(features, distilled)]
        if self.segmentation is not None:
            out.segmentation = self.segmentation(features)[0]
        return out

    def depth(self, image):
        """Full-resolution metric depth B x 1 x H x W in [min_depth, max_depth]."""
        return disparity_to_depth(self.forward(image)[0], self.min_depth, self.max_depth)
