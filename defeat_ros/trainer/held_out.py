"""The self-supervised loss and depth accuracy of a model on held-out samples."""

from defeat_ros.evaluation import DepthEvaluation
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
    :return: {'loss': float}, plus the median-scaled depth metrics averaged over the images
        (DepthEvaluation's summary, no crop) when the dataset has ground-truth depth.
    """
    training = model.training
    model.eval()
    loss_sum, evaluation = 0.0, DepthEvaluation(crop=False)
    # A loader of its own generator: iterating a DataLoader otherwise draws its base seed from
    # the global generator, and measuring would change the training run that follows.
    loader = DataLoader(dataset, batch_size=batch_size, generator=torch.Generator())
    for number, batch in enumerate(loader):
        target = batch['target'].to(device)
        sources = list(batch['sources'].to(device).unbind(1))
        total, _ = measure_loss(model, loss_fn, target, sources, offsets,
                                batch['k_norm'].to(device), seed=number)
        loss_sum += total.item() * len(target)
        if 'depth' in batch:
            for depth, truth in zip(model.depth_net.depth(target).cpu(), batch['depth']):
                if ((truth > evaluation.min_depth) & (truth < evaluation.max_depth)).any():
                    evaluation.add(depth, truth)
    model.train(training)
    summary = {'loss': loss_sum / len(dataset)}
    if evaluation.per_image:
        summary.update(evaluation.summary())
    return summary
