"""
TripleDNet's pretext decoder (seed 003): appearance tasks on DepthNet's encoder, distilled.

One appearance decoder (a :class:`SkipDecoder` trunk, the depth decoder's twin) reads the
shared DepthNet encoder E. Its task heads, TripleDNet's output block (3x3 conv, 32 channels,
BN, ReLU, twice) and a 3x3 output convolution, predict from its full-resolution map F(x):

* ``reconstruction``: D_P(E(x)) -> x, the RGB image (sigmoid, in [0, 1]);
* ``colourisation``: D_P(F(x) + GS(x)) -> AB(x): from F(x) concatenated with the grey-scale
  image GS(x) (BT.601 luma), the CIE Lab chroma a*, b* of x (sRGB, D65) divided by 100.

The trunk's maps at every level (strides 16 to 1) are the distillation skip connections: the
depth decoder concatenates them into its up-convolutions, so depth needs the trunk (not the
heads) at inference too, and the depth loss trains the trunk through them.
"""

from defeat_ros.nets.config import PRETEXTS
from defeat_ros.nets.skip_decoder import conv3x3, SkipDecoder
import torch
from torch import nn

TASKS = {'none': (), 'reconstruction': ('reconstruction',),
         'colourisation': ('colourisation',), 'both': ('reconstruction', 'colourisation')}
"""The task heads of each ModelConfig.pretext."""

HEAD_CHANNELS = 32
"""Channels of TripleDNet's pretext output block."""

LUMA = (0.299, 0.587, 0.114)
"""ITU-R BT.601 weights of GS(x)."""
SRGB_TO_XYZ = ((0.4124564, 0.3575761, 0.1804375),
               (0.2126729, 0.7151522, 0.0721750),
               (0.0193339, 0.1191920, 0.9503041))
"""Linear sRGB -> CIE XYZ (D65)."""
D65_WHITE = (0.95047, 1.0, 1.08883)
"""XYZ of the D65 white point."""
CHROMA_SCALE = 100.0
"""a*, b* are divided by this: AB(x) lies roughly in [-1, 1]."""


def grey(image):
    """GS(x): B x 3 x H x W RGB in [0, 1] -> B x 1 x H x W BT.601 luma."""
    weights = image.new_tensor(LUMA).view(1, 3, 1, 1)
    return (image * weights).sum(dim=1, keepdim=True)


def chroma(image):
    """AB(x): B x 3 x H x W sRGB in [0, 1] -> B x 2 x H x W CIE Lab (a*, b*) / 100, in fp32."""
    rgb = image.float().clamp(0, 1)
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = torch.einsum('ij,bjhw->bihw', rgb.new_tensor(SRGB_TO_XYZ), linear)
    xyz = xyz / rgb.new_tensor(D65_WHITE).view(1, 3, 1, 1)
    delta = 6 / 29
    f = torch.where(xyz > delta ** 3, xyz.clamp(min=delta ** 3) ** (1 / 3),
                    xyz / (3 * delta ** 2) + 4 / 29)
    a = 500 * (f[:, 0:1] - f[:, 1:2])
    b = 200 * (f[:, 1:2] - f[:, 2:3])
    return torch.cat([a, b], dim=1) / CHROMA_SCALE


def output_block(in_channels, out_channels):
    """Return TripleDNet's pretext output block: (3x3 conv 32, BN, ReLU) x 2, 3x3 conv."""
    return nn.Sequential(
        conv3x3(in_channels, HEAD_CHANNELS), nn.BatchNorm2d(HEAD_CHANNELS), nn.ReLU(inplace=True),
        conv3x3(HEAD_CHANNELS, HEAD_CHANNELS), nn.BatchNorm2d(HEAD_CHANNELS),
        nn.ReLU(inplace=True), conv3x3(HEAD_CHANNELS, out_channels))


class PretextDecoder(nn.Module):
    """
    The appearance decoder and its task heads (``pretext`` one of :data:`PRETEXTS` but 'none').

    ``maps`` gives the distillation maps (by level 0..4, ``level_channels`` channels); ``predict``
    the tasks' (prediction, truth) pairs.
    """

    def __init__(self, encoder_channels, pretext='both', width=64, decoder='monodepth'):
        super().__init__()
        if pretext not in TASKS or pretext == 'none':
            raise ValueError(f'pretext must be one of {PRETEXTS[1:]}, got {pretext!r}')
        self.tasks = TASKS[pretext]
        self.trunk = SkipDecoder(encoder_channels, 0, (), width, style=decoder)
        self.level_channels = self.trunk.level_channels
        full = self.level_channels[0]
        self.heads = nn.ModuleDict()
        if 'reconstruction' in self.tasks:
            self.heads['reconstruction'] = output_block(full, 3)
        if 'colourisation' in self.tasks:
            self.heads['colourisation'] = output_block(full + 1, 2)

    def maps(self, features):
        """Return the trunk's 5 maps by level 0..4 (strides 1..16) from the encoder maps."""
        return self.trunk.levels(features)[1]

    def predict(self, maps, image):
        """
        Run the task heads on the trunk's ``maps`` of ``image`` (B x 3 x H x W, the input).

        :return: dict task -> (prediction, truth), B x 3 x H x W RGB for 'reconstruction',
            B x 2 x H x W AB for 'colourisation'; truths computed in float32, no gradient.
        """
        out = {}
        with torch.no_grad(), torch.autocast(image.device.type, enabled=False):
            image = image.float()
            grey_image, truth_chroma = grey(image), chroma(image)
        if 'reconstruction' in self.tasks:
            out['reconstruction'] = (self.heads['reconstruction'](maps[0]).sigmoid(), image)
        if 'colourisation' in self.tasks:
            joined = torch.cat([maps[0], grey_image.to(maps[0].dtype)], dim=1)
            out['colourisation'] = (self.heads['colourisation'](joined), truth_chroma)
        return out
