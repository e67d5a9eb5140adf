"""
Depth supervision from exact depth: the synthetic world's free labels.

Self-supervised training learns depth only through the photometric warp, slowly and from a
start that every pixel shares. Where a dataset has exact depth (the synthetic street renders
it), a supervised term on it teaches the depth network directly, in metres; a model trained so
must say that it was (its model card and the ``train_config`` it records).

:func:`log_depth_error` matches each pixel's depth; :func:`log_depth_gradient_error` matches
the depth's shape within the frame (the differences of log depth between neighbours, at
several scales: the scale-invariant gradient matching of MegaDepth, Li and Snavely 2018), which
a blurred depth edge violates however right its median is.
"""

import torch


def log_depth_error(depth, truth):
    """
    Mean absolute log error of depth over the pixels with truth (0-d; 0 when there is none).

    :param depth: B x 1 x H x W predicted depth (m), positive.
    :param truth: B x 1 x H x W exact depth (m); 0, inf or NaN where unknown (sky).
    """
    known = torch.isfinite(truth) & (truth > 0)
    if not known.any():
        return depth.new_zeros(())
    return (depth[known].log() - truth[known].log()).abs().mean()


def log_depth_gradient_error(depth, truth, levels=4):
    """
    Multi-scale gradient matching of log depth (0-d; 0 when no neighbours have truth).

    With R = log depth - log truth, at each of ``levels`` scales (every 2^l-th pixel), the mean
    over neighbouring pixel pairs that both have truth of |R(x+1, y) - R(x, y)| and
    |R(x, y+1) - R(x, y)|, summed over the scales. It is 0 for any depth that is the truth
    times one factor.

    :param depth: B x 1 x H x W predicted depth (m), positive.
    :param truth: B x 1 x H x W exact depth (m); 0, inf or NaN where unknown (sky).
    """
    known = torch.isfinite(truth) & (truth > 0)
    residual = torch.where(known, depth.log() - torch.where(known, truth, 1.0).log(), 0.0)
    total = depth.new_zeros(())
    for level in range(levels):
        step = 2 ** level
        values, valid = residual[..., ::step, ::step], known[..., ::step, ::step]
        pairs = [((values[..., :, 1:] - values[..., :, :-1]).abs(),
                  valid[..., :, 1:] & valid[..., :, :-1]),
                 ((values[..., 1:, :] - values[..., :-1, :]).abs(),
                  valid[..., 1:, :] & valid[..., :-1, :])]
        count = sum(mask.sum() for _, mask in pairs)
        if count:
            total = total + sum(difference[mask].sum() for difference, mask in pairs) / count
    return total
