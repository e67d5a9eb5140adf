"""U-Net style decoder with skip connections, shared by the depth and feature networks."""

import torch
from torch import nn
import torch.nn.functional as F

DECODER_CHANNELS = (16, 32, 64, 128, 256)


def conv3x3(in_channels, out_channels):
    """3x3 convolution with reflection padding (no border artefacts in dense outputs)."""
    return nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(in_channels, out_channels, 3))


class ConvElu(nn.Sequential):
    """3x3 reflection-padded convolution followed by ELU."""

    def __init__(self, in_channels, out_channels):
        super().__init__(conv3x3(in_channels, out_channels), nn.ELU(inplace=True))


class SkipDecoder(nn.Module):
    """
    Upsamples encoder features (strides 32 to 1) with skips; emits heads at chosen scales.

    Scale s has stride 2^s: scale 0 is the input resolution. ``forward`` returns a list of the
    raw head outputs B x out_channels x H/2^s x W/2^s ordered as ``scales``. Decoder channels
    scale with the encoder ``width`` (64 = standard).
    """

    def __init__(self, encoder_channels, out_channels, scales=(0, 1, 2, 3), width=64):
        super().__init__()
        channels_at = [max(c * width // 64, 8) for c in DECODER_CHANNELS]
        self.scales = tuple(scales)
        self.upconvs_in = nn.ModuleList()
        self.upconvs_out = nn.ModuleList()
        in_channels = encoder_channels[-1]
        for level in range(4, -1, -1):
            self.upconvs_in.append(ConvElu(in_channels, channels_at[level]))
            skip = encoder_channels[level - 1] if level > 0 else 0
            channels = channels_at[level]
            self.upconvs_out.append(ConvElu(channels + skip, channels))
            in_channels = channels_at[level]
        self.heads = nn.ModuleDict({
            str(s): conv3x3(channels_at[s], out_channels) for s in self.scales})

    def forward(self, features):
        """Decode encoder maps (strides 2..32) into head outputs, one per scale in ``scales``."""
        outputs = {}
        x = features[-1]
        for i, level in enumerate(range(4, -1, -1)):
            x = F.interpolate(self.upconvs_in[i](x), scale_factor=2.0, mode='nearest')
            if level > 0:
                x = torch.cat([x, features[level - 1]], dim=1)
            x = self.upconvs_out[i](x)
            if level in self.scales:
                outputs[level] = self.heads[str(level)](x)
        return [outputs[s] for s in self.scales]
