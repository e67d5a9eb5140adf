"""Shared pieces of the variant tests: a small network, random frames, a variant's step."""

from pathlib import Path

from defeat_ros.geometry import normalise_intrinsics
from defeat_ros.losses import DeFeatLoss, LossConfig
from defeat_ros.nets import DeFeatNet, ModelConfig
from defeat_ros.trainer.config import TrainConfig
from defeat_ros.trainer.step import TrainingStep
import torch

REPO = Path(__file__).resolve().parents[1]
SMALL = {'feature_dims': 8, 'height': 64, 'width': 96, 'encoder_width': 16}
"""A network small enough for a test at 96 x 64."""


def frames(batch=2, height=64, width=96):
    """Return random (target B x 3 x H x W, [2 sources], k_norm B x 3 x 3), seeded."""
    gen = torch.Generator().manual_seed(1)
    target = torch.rand(batch, 3, height, width, generator=gen)
    sources = [torch.rand(batch, 3, height, width, generator=gen) for _ in range(2)]
    k_norm = normalise_intrinsics(0.6 * width, 0.6 * width, width / 2 - 0.5, height / 2 - 0.5,
                                  width, height).expand(batch, 3, 3)
    return target, sources, k_norm


def variant_step(name, width=96):
    """
    Return (TrainConfig, SMALL DeFeatNet, TrainingStep, flipped batch) of variant ``name``.

    The network and loss take ``config/train/variant_<name>.yaml``'s settings at the SMALL size
    (``width`` pixels wide).
    """
    config = TrainConfig.from_yaml(REPO / 'config' / 'train' / f'variant_{name}.yaml')
    torch.manual_seed(0)
    model = DeFeatNet(ModelConfig.from_dict(
        {**config.model.to_dict(), **SMALL, 'width': width, 'pretrained_encoder': ''}))
    loss = DeFeatLoss(LossConfig.from_dict({**config.loss.to_dict(), 'contrastive_positives': 64}))
    step = TrainingStep(model, loss, torch.optim.Adam(model.parameters(), lr=1e-3), [-1, 1])
    target, sources, k_norm = frames(width=width)
    batch = {'target': target, 'sources': torch.stack(sources, 1), 'k_norm': k_norm,
             'flipped': torch.tensor([True, False])}
    return config, model, step, batch
