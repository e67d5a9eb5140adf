"""One self-supervised optimisation step on a batch of frame tuples."""

import torch


def training_step(model, loss_fn, optimiser, target, sources, offsets, k_norm, max_grad_norm=None):
    """
    Forward, DeFeatLoss, backward and update; returns the detached loss terms.

    :param model: DeFeatNet in train mode.
    :param loss_fn: DeFeatLoss.
    :param optimiser: a torch optimiser over ``model``'s parameters.
    :param target: B x 3 x H x W frame t; sources: list of S frames B x 3 x H x W.
    :param offsets: S frame offsets relative to t (e.g. [-1, 1]).
    :param k_norm: B x 3 x 3 normalised intrinsics.
    :param max_grad_norm: clip the global gradient norm to this value when given.
    """
    outputs = model.forward_train(target, sources, offsets, loss_fn.needs_source_depth)
    total, terms = loss_fn(outputs, target, sources, k_norm, model.to_depth)
    optimiser.zero_grad(set_to_none=True)
    total.backward()
    if max_grad_norm:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimiser.step()
    return terms
