"""Depth accuracy against ground truth: the seven standard metrics (Eigen et al.)."""

import torch

METRICS = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'a1', 'a2', 'a3')


def depth_metrics(prediction, ground_truth, min_depth=1e-3, max_depth=80.0, median_scaling=True):
    """
    Metrics of one depth map against ground truth (same shape, metres).

    Pixels with ground truth outside (min_depth, max_depth) are ignored. With ``median_scaling``
    the prediction is first multiplied by median(gt) / median(pred), as monocular methods are
    evaluated; the ratio is returned as ``scale``. Predictions are clamped into the depth range.
    Returns a dict of floats: abs_rel, sq_rel, rmse, rmse_log, a1, a2, a3 (delta < 1.25^k), scale.
    """
    valid = (ground_truth > min_depth) & (ground_truth < max_depth) & torch.isfinite(prediction)
    gt = ground_truth[valid].double()
    pred = prediction[valid].double()
    if gt.numel() == 0:
        raise ValueError('no valid ground-truth pixels to evaluate')
    scale = (gt.median() / pred.median()).item() if median_scaling else 1.0
    pred = (pred * scale).clamp(min_depth, max_depth)
    ratio = torch.maximum(gt / pred, pred / gt)
    return {
        'abs_rel': ((gt - pred).abs() / gt).mean().item(),
        'sq_rel': ((gt - pred) ** 2 / gt).mean().item(),
        'rmse': ((gt - pred) ** 2).mean().sqrt().item(),
        'rmse_log': ((gt.log() - pred.log()) ** 2).mean().sqrt().item(),
        'a1': (ratio < 1.25).double().mean().item(),
        'a2': (ratio < 1.25 ** 2).double().mean().item(),
        'a3': (ratio < 1.25 ** 3).double().mean().item(),
        'scale': scale,
    }
