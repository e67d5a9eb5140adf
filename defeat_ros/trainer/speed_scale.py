"""
How far a model's scale is from metres, measured with the vehicle's speed.

A model trained without speed predicts translations in a unit of its own. On samples that
record the distance travelled (``distances``, from speed), the median of distance over
predicted translation length is the factor that makes the model metric; fine-tuning starts from
the model rescaled by it (:func:`~defeat_ros.nets.rescale.rescaled`), as the velocity loss
alone moves a scale that is far off only slowly (300 fine-tuning steps took a trajectory
that was 13.5x too short to 9.7x).
"""

from defeat_ros.nets.rescale import rescale_model
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


def start_metric(model, dataset, device, log):
    """
    Rescale a model of arbitrary scale to metres, as the recorded speed measures it, in place.

    :param model: DeFeatNet whose ``metric_scale`` is 'none'.
    :param dataset: samples (unaugmented) with their ``distances``.
    :param log: where the factor is reported.
    :return: the factor applied, or None when no sample moved far enough to measure it.
    """
    factor = speed_scale(model, dataset, device)
    if factor is None:
        log('no training sample moved far enough to measure the scale; training from the '
            "model's own scale")
        return None
    rescale_model(model, factor)
    model.config.provenance['speed_scale_factor'] = factor
    log(f'the speed puts the model at 1/{factor:.3g} of metres: depth and translation '
        f'rescaled by {factor:.3g} before fine-tuning')
    return factor
