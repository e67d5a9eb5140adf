"""The self-supervised loss and depth accuracy of a model on held-out samples."""

from defeat_ros.evaluation import DepthEvaluation
from defeat_ros.trainer.criterion import validation_criterion
from defeat_ros.trainer.step import measure_loss
import torch
from torch.utils.data import DataLoader


@torch.no_grad()
def held_out_metrics(model, loss_fn, dataset, offsets, batch_size, device):
    """
    Measure a model on unaugmented samples: the mean DeFeat loss, and depth metrics with truth.

    Batch i draws the loss's random pixels from seed i, so two models see the same draws.

    :param model: DeFeatNet (its train/eval mode is restored afterwards).
    :param loss_fn: DeFeatLoss.
    :param dataset: a SequenceDataset without augmentation.
    :param offsets: its source offsets.
    :param batch_size: samples per forward pass.
    :param device: where ``model`` lives.
    :return: {'loss': the total DeFeat loss, 'criterion': the
        :func:`~defeat_ros.trainer.criterion.validation_criterion`, 'photometric' error}, plus
        'velocity' (mean error in metres of the translation lengths against the distances
        travelled) when the samples record speed, and the depth metrics averaged over the
        images (DepthEvaluation's summary, no crop, median-scaled and metric) when the dataset
        has ground-truth depth.
    """
    training = model.training
    model.eval()
    sums = {'loss': 0.0, 'criterion': 0.0, 'photometric': 0.0}
    velocity_sum, velocity_count = 0.0, 0
    evaluation = DepthEvaluation(crop=False)
    metric = DepthEvaluation(crop=False, median_scaling=False)
    # A loader of its own generator: iterating a DataLoader otherwise draws its base seed from
    # the global generator, and measuring would change the training run that follows.
    loader = DataLoader(dataset, batch_size=batch_size, generator=torch.Generator())
    for number, batch in enumerate(loader):
        target = batch['target'].to(device)
        sources = list(batch['sources'].to(device).unbind(1))
        distances = batch['distances'].to(device)
        labels = batch['labels'].to(device) if 'labels' in batch else None
        total, terms = measure_loss(model, loss_fn, target, sources, offsets,
                                    batch['k_norm'].to(device), number, distances, labels)
        values = {'loss': total, 'criterion': validation_criterion(terms, loss_fn.config),
                  'photometric': terms['photometric']}
        for name, value in values.items():
            sums[name] += value.item() * len(target)
        known = int(distances.isfinite().sum())
        if known and 'velocity' in terms:
            velocity_sum += terms['velocity'].item() * known
            velocity_count += known
        if 'depth' in batch:
            for depth, truth in zip(model.depth_net.depth(target).cpu(), batch['depth']):
                if ((truth > evaluation.min_depth) & (truth < evaluation.max_depth)).any():
                    evaluation.add(depth, truth)
                    metric.add(depth, truth)
    model.train(training)
    summary = {name: value / len(dataset) for name, value in sums.items()}
    if velocity_count:
        summary['velocity'] = velocity_sum / velocity_count
    if evaluation.per_image:
        summary.update(evaluation.summary())
        summary.update({f'metric_{k}': v for k, v in metric.summary().items()})
    return summary
