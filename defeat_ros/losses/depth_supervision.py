"""
Depth supervision from exact depth: the synthetic world's free labels.

Self-supervised training learns depth only through the photometric warp, slowly and from a
start that every pixel shares. Where a dataset has exact depth (the synthetic street renders
it), a supervised term on it teaches the depth network directly, in metres; a model trained so
must say that it was (its model card and the ``train_config`` it records).
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
