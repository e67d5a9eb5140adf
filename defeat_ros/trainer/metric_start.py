"""
How far a model's scale is from metres, measured with the vehicle's speed or the camera height.

A model trained without speed predicts depth and translations in a unit of its own. On samples
that record the distance travelled (``distances``, from speed), the median of distance over
predicted translation length is the factor that makes the model metric; without speed, the
median of the mounting height over the height of the road plane fitted to the predicted depth
(:class:`~defeat_ros.losses.camera_height.CameraHeightLoss`). Fine-tuning starts from the model
rescaled by it (:func:`~defeat_ros.nets.rescale.rescale_model`): the velocity loss alone moves a
scale that is far off only slowly (300 fine-tuning steps took a trajectory that was 13.5x too
short to 9.7x), and the depth range (``max_depth``) caps a model of too small a unit far below
the road's far end, so the camera-height loss alone cannot reach metres (from 1/7 of them,
300 steps made the road's plane vanish under the cap).
"""

from dataclasses import replace

from defeat_ros.losses.camera_height import CameraHeightLoss
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


@torch.no_grad()
def height_scale(model, dataset, device, camera_height, samples=64):
    """
    Return median(camera_height / fitted road height) over samples whose depth shows a road.

    :param model: DeFeatNet (its train/eval mode is restored afterwards).
    :param dataset: samples with ``target`` and ``k_norm``.
    :param device: where ``model`` lives.
    :param camera_height: the camera's mounting height above the road (m).
    :param samples: at most this many samples, evenly spread over the dataset, are measured.
    :return: the factor (float), or None when no sample's depth shows a road plane.
    """
    training = model.training
    model.eval()
    road = CameraHeightLoss(camera_height)
    indices = np.unique(np.linspace(0, len(dataset) - 1, min(samples, len(dataset))).round())
    ratios = []
    for index in indices.astype(int).tolist():
        sample = dataset[index]
        image = sample['target'][None].to(device)
        depth = model.depth_net.depth(image)
        height = road.height(depth[0, 0].float(), sample['k_norm'].to(device))
        if height:
            ratios.append(camera_height / height)
    model.train(training)
    return float(np.median(ratios)) if ratios else None


def start_metric(model, dataset, device, log, camera_height=0.0):
    """
    Rescale a model of arbitrary scale to metres, as the speed or the road measures it, in place.

    On success the model records where its scale now comes from: ``metric_scale`` 'velocity'
    or 'camera_height'.

    :param model: DeFeatNet whose ``metric_scale`` is 'none'.
    :param dataset: samples (unaugmented) with their ``distances``.
    :param log: where the factor is reported.
    :param camera_height: 0: measure with the samples' speed; else the camera's mounting height
        (m): measure with the road plane.
    :return: the factor applied, or None when no sample could measure it.
    """
    if camera_height:
        factor, what, key = (height_scale(model, dataset, device, camera_height),
                             f'the road {camera_height:g} m below the camera',
                             'height_scale_factor')
    else:
        factor, what, key = speed_scale(model, dataset, device), 'the speed', 'speed_scale_factor'
    if factor is None:
        log(f'no training sample could measure the scale with {what}; training from the '
            "model's own scale")
        return None
    rescale_model(model, factor)
    model.config = replace(model.config, metric_scale='camera_height' if camera_height
                           else 'velocity')
    model.config.provenance[key] = factor
    log(f'{what} puts the model at 1/{factor:.3g} of metres: depth and translation '
        f'rescaled by {factor:.3g} before fine-tuning')
    return factor
