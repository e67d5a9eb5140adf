"""
How far a model's scale is from metres, measured with the vehicle's speed.

A model trained without speed predicts translations in a unit of its own. On samples that
record the distance travelled (``distances``, from speed), the median of distance over
predicted translation length is the factor that makes the model metric; fine-tuning starts from
the model rescaled by it (:func:`~defeat_ros.nets.rescale.rescaled`), as the velocity loss
alone moves a scale that is far off only slowly (300 fine-tuning steps took a trajectory
that was 13.5x too short to 9.7x).
"""

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

MIN_DISTANCE = 0.05
"""Source pairs closer than this (metres) say little about the scale and are left out."""


@torch.no_grad()
def speed_scale(model, dataset, device, samples=64, batch_size=8):
    """
    Return median(distance / predicted translation length) over samples with known distances.

    :param model: DeFeatNet (its train/eval mode is restored afterwards).
    :param dataset: a SequenceDataset whose samples carry ``distances``.
    :param device: where ``model`` lives.
    :param samples: at most this many samples, evenly spread over the dataset, are measured.
    :param batch_size: samples per forward pass.
    :return: the factor (float), or None when no sample has a known distance of at least
        :data:`MIN_DISTANCE`.
    """
    training = model.training
    model.eval()
    indices = np.unique(np.linspace(0, len(dataset) - 1, min(samples, len(dataset))).round())
    ratios = []
    for batch in DataLoader(Subset(dataset, indices.astype(int).tolist()), batch_size):
        target = batch['target'].to(device)
        for number, offset in enumerate(batch['offsets'][0].tolist()):
            source = batch['sources'][:, number].to(device)
            pose = model.relative_pose(target, source, offset < 0)
            length = pose[:, :3, 3].norm(dim=-1).cpu()
            distance = batch['distances'][:, number]
            known = torch.isfinite(distance) & (distance >= MIN_DISTANCE) & (length > 0)
            ratios.append((distance[known] / length[known]).numpy())
    model.train(training)
    ratios = np.concatenate(ratios) if ratios else np.zeros(0)
    return float(np.median(ratios)) if len(ratios) else None
