"""U-Net style decoder with skip connections, shared by the depth and feature networks."""

from defeat_ros.nets.config import DECODERS
import torch
from torch import nn
import torch.nn.functional as F

DECODER_CHANNELS = (16, 32, 64, 128, 256)


def conv3x3(in_channels, out_channels, style='monodepth'):
    """3x3 convolution, padded by reflection ('monodepth') or with zeros ('fast')."""
    if style not in DECODERS:
        raise ValueError(f'decoder style must be one of {DECODERS}, got {style!r}')
    pad = nn.ReflectionPad2d(1) if style == 'monodepth' else nn.ZeroPad2d(1)
    return nn.Sequential(pad, nn.Conv2d(in_channels, out_channels, 3))


class ConvActivation(nn.Sequential):
    """3x3 padded convolution followed by ELU ('monodepth') or ReLU ('fast')."""

    def __init__(self, in_channels, out_channels, style='monodepth'):
        activation = nn.ELU(inplace=True) if style == 'monodepth' else nn.ReLU(inplace=True)
        super().__init__(conv3x3(in_channels, out_channels, style), activation)


class SkipDecoder(nn.Module):
    """
    Upsamples encoder features (strides 32 to 1) with skips; emits heads at chosen scales.

    Scale s has stride 2^s: scale 0 is the input resolution. ``forward`` returns a list of the
    raw head outputs B x out_channels x H/2^s x W/2^s ordered as ``scales``. Decoder channels
    scale with the encoder ``width`` (64 = standard).

    ``extra_channels`` (5 numbers, by level 0..4, i.e. strides 1..16) adds further skip inputs:
    maps of another decoder that are concatenated, beside the encoder's skip, into the
    up-convolution of each level (TripleDNet's distillation skip connections; 0 at a level: none
    there). ``levels`` also returns this decoder's own maps by level, for another decoder's
    extra skips (``level_channels`` channels each).

    The decoder stops at its finest head: with ``scales`` (1,) it never builds or runs the
    full-resolution level. ``style`` is one of :data:`DECODERS`.
    """

    def __init__(self, encoder_channels, out_channels, scales=(0, 1, 2, 3), width=64,
                 extra_channels=None, style='monodepth'):
        super().__init__()
        channels_at = [max(c * width // 64, 8) for c in DECODER_CHANNELS]
        extra_channels = tuple(extra_channels or (0,) * 5)
        if len(extra_channels) != 5:
            raise ValueError(f'extra_channels needs one number per level 0..4, '
                             f'got {extra_channels}')
        self.scales = tuple(scales)
        self.finest = min(self.scales, default=0)
        self.level_channels = tuple(channels_at)
        self.extra_channels = extra_channels
        self.upconvs_in = nn.ModuleList()
        self.upconvs_out = nn.ModuleList()
        in_channels = encoder_channels[-1]
        for level in range(4, self.finest - 1, -1):
            self.upconvs_in.append(ConvActivation(in_channels, channels_at[level], style))
            skip = encoder_channels[level - 1] if level > 0 else 0
            channels = channels_at[level]
            self.upconvs_out.append(
                ConvActivation(channels + skip + extra_channels[level], channels, style))
            in_channels = channels_at[level]
        self.heads = nn.ModuleDict({
            str(s): conv3x3(channels_at[s], out_channels, style) for s in self.scales})

    def forward(self, features, extra=None):
        """Decode encoder maps (strides 2..32) into head outputs, one per scale in ``scales``."""
        return self.levels(features, extra)[0]

    def levels(self, features, extra=None):
        """
        Decode; return the head outputs (as ``forward``) and the decoder's maps.

        The maps are the 5 by level 0..4, None below the finest head.

        :param features: the 5 encoder maps, strides 2..32.
        :param extra: 5 maps by level 0..4 (B x ``extra_channels[level]`` x H/2^level x
            W/2^level; None where that count is 0), required when ``extra_channels`` has any;
            None otherwise.
        """
        if any(self.extra_channels) and extra is None:
            raise ValueError('this decoder needs its extra skip maps')
        outputs = {}
        maps = [None] * 5
        x = features[-1]
        for i, level in enumerate(range(4, self.finest - 1, -1)):
            x = F.interpolate(self.upconvs_in[i](x), scale_factor=2.0, mode='nearest')
            joined = [x]
            if level > 0:
                joined.append(features[level - 1])
            if self.extra_channels[level]:
                joined.append(extra[level])
            x = self.upconvs_out[i](torch.cat(joined, dim=1) if len(joined) > 1 else x)
            maps[level] = x
            if level in self.scales:
                outputs[level] = self.heads[str(level)](x)
        return [outputs[s] for s in self.scales], maps
