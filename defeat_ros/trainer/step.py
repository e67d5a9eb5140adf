"""The self-supervised loss of one batch of frame tuples: a training step, or a measurement."""

import torch


def training_step(model, loss_fn, optimiser, target, sources, offsets, k_norm, max_grad_norm=None):
    """
    Forward, DeFeatLoss, backward and update; returns the detached loss terms.

    A non-finite loss is returned without a backward pass or an update (NaN sampling
    coordinates must not reach grid_sample's backward).

    :param model: DeFeatNet in train mode.
    :param loss_fn: DeFeatLoss.
    :param optimiser: a torch optimiser over ``model``'s parameters.
    :param target: B x 3 x H x W frame t; sources: list of S frames B x 3 x H x W.
    :param offsets: S frame offsets relative to t (e.g. [-1, 1]).
    :param k_norm: B x 3 x 3 normalised intrinsics.
    :param max_grad_norm: clip the global gradient norm to this value when given.
    """
    outputs = model.forward_train(target, sources, offsets, loss_fn.needs_source_depth,
                                  loss_fn.uses_features)
    total, terms = loss_fn(outputs, target, sources, k_norm, model.to_depth)
    optimiser.zero_grad(set_to_none=True)
    if not torch.isfinite(total):
        return terms  # no update: the caller sees the non-finite total and decides
    total.backward()
    if max_grad_norm:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimiser.step()
    return terms


@torch.no_grad()
def measure_loss(model, loss_fn, target, sources, offsets, k_norm, seed=0):
    """
    Return the DeFeatLoss of a batch without learning: (total, terms), in eval mode.

    The contrastive term samples pixels; they are drawn from ``seed`` (the global random state
    is left as it was), so the same batch gives the same draws before and after training.

    :param model: DeFeatNet (its train/eval mode is restored afterwards).
    :param loss_fn: DeFeatLoss.
    :param target: B x 3 x H x W frame t; sources: list of S frames B x 3 x H x W.
    :param offsets: S frame offsets relative to t.
    :param k_norm: B x 3 x 3 normalised intrinsics.
    :param seed: seed of the loss's random draws.
    """
    training = model.training
    model.eval()
    devices = [target.device.index or 0] if target.is_cuda else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        outputs = model.forward_train(target, sources, offsets, loss_fn.needs_source_depth,
                                      loss_fn.uses_features)
        total, terms = loss_fn(outputs, target, sources, k_norm, model.to_depth)
    model.train(training)
    return total, terms
