"""Per-pixel appearance error: 0.85 * SSIM(3x3) + 0.15 * L1 (or TripleDNet's Charbonnier)."""

import torch
from torch import nn


class SSIMDistance(nn.Module):
    """(1 - SSIM) / 2 over 3x3 reflection-padded windows: two B x C x H x W -> B x C x H x W."""

    def __init__(self, c1=0.01 ** 2, c2=0.03 ** 2):
        super().__init__()
        self.c1 = c1
        self.c2 = c2
        self.pool = nn.Sequential(nn.ReflectionPad2d(1), nn.AvgPool2d(3, stride=1))

    def forward(self, x, y):
        """Return the SSIM distance map of x and y (same shape)."""
        mu_x = self.pool(x)
        mu_y = self.pool(y)
        sigma_x = self.pool(x * x) - mu_x * mu_x
        sigma_y = self.pool(y * y) - mu_y * mu_y
        sigma_xy = self.pool(x * y) - mu_x * mu_y
        numerator = (2 * mu_x * mu_y + self.c1) * (2 * sigma_xy + self.c2)
        denominator = (mu_x * mu_x + mu_y * mu_y + self.c1) * (sigma_x + sigma_y + self.c2)
        return torch.clamp((1 - numerator / denominator) / 2, 0, 1)


def charbonnier(x, y, eps=1e-3):
    """Compute TripleDNet's pointwise loss sqrt((x - y)^2 + eps^2), elementwise."""
    return torch.sqrt((x - y) ** 2 + eps * eps)


class PhotometricError(nn.Module):
    """
    alpha * SSIM distance + (1 - alpha) * pointwise error, averaged over channels.

    Works on images (B x 3 x H x W) and on dense features (B x n x H x W) alike.
    ``pointwise`` is ``'l1'`` (DeFeat-Net, Monodepth2) or ``'charbonnier'`` (TripleDNet).
    Returns B x 1 x H x W.
    """

    def __init__(self, alpha=0.85, pointwise='l1', charbonnier_eps=1e-3):
        super().__init__()
        if pointwise not in ('l1', 'charbonnier'):
            raise ValueError(f"pointwise must be 'l1' or 'charbonnier', got {pointwise!r}")
        self.alpha = alpha
        self.pointwise = pointwise
        self.charbonnier_eps = charbonnier_eps
        self.ssim = SSIMDistance()

    def forward(self, prediction, target):
        """Per-pixel error map B x 1 x H x W between prediction and target."""
        if self.pointwise == 'l1':
            point = (prediction - target).abs()
        else:
            point = charbonnier(prediction, target, self.charbonnier_eps)
        ssim = self.ssim(prediction, target)
        return (self.alpha * ssim + (1 - self.alpha) * point).mean(dim=1, keepdim=True)


def masked_mean(values, mask, eps=1e-7):
    """Mean of values B x C x H x W over pixels where mask (B x 1 x H x W, 0/1) is set."""
    mask = mask.expand_as(values)
    return (values * mask).sum() / (mask.sum() + eps)
