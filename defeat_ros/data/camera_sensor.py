"""
A camera sensor: exposure gain, glare, shot and read noise, tone curve and 8-bit quantisation.

Night images differ from day ones in more than brightness: the gain needed to see anything also
amplifies noise, and bright lamps bloom. ``expose`` maps linear radiance to the image a real
camera would record.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class SensorSettings:
    """Exposure and noise of one capture."""

    gain: float = 1.0
    """Multiplier from radiance to sensor signal (auto-exposure)."""
    shot_noise: float = 0.0005
    """Variance of the photon noise per unit signal (noise std = sqrt(shot_noise * signal))."""
    read_noise: float = 0.003
    """Std of the signal-independent read noise."""
    glare: float = 0.0
    """Strength of the bloom around saturated light sources (0 disables)."""
    gamma: float = 1.0
    """Tone curve: the recorded value is the noisy signal to the power 1 / gamma (1: linear;
    2.2: about the sRGB curve most cameras deliver, which lifts the shadows)."""


DAY = SensorSettings()
NIGHT = SensorSettings(gain=3.0, shot_noise=0.004, read_noise=0.01, glare=0.6)


def bloom(signal, strength):
    """Blurred excess above saturation, B x 3 x H x W: the glare of bright lights."""
    excess = (signal - 0.9).clamp(min=0)
    h, w = signal.shape[-2:]
    small = F.avg_pool2d(excess, 4, ceil_mode=True)
    kernel = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
    for _ in range(3):
        small = F.conv2d(F.pad(small, (2, 2, 0, 0), mode='replicate'),
                         kernel.view(1, 1, 1, 5).expand(3, 1, 1, 5), groups=3)
        small = F.conv2d(F.pad(small, (0, 0, 2, 2), mode='replicate'),
                         kernel.view(1, 1, 5, 1).expand(3, 1, 5, 1), groups=3)
    return strength * F.interpolate(small, size=(h, w), mode='bilinear', align_corners=False)


def expose(radiance, settings, generator=None):
    """
    Linear radiance 3 x H x W -> recorded image 3 x H x W in [0, 1], quantised to 8 bits.

    Noise is added to the linear signal, then the tone curve (``settings.gamma``) is applied,
    as in a camera's processing.
    """
    signal = radiance * settings.gain
    if settings.glare:
        signal = signal + bloom(signal.unsqueeze(0), settings.glare)[0]
    clean = signal.clamp(0, 1)
    variance = settings.shot_noise * clean + settings.read_noise ** 2
    noise = torch.randn(clean.shape, generator=generator) * variance.sqrt()
    recorded = (clean + noise).clamp(0, 1) ** (1.0 / settings.gamma)
    return torch.round(recorded * 255.0) / 255.0
