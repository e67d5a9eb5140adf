"""
Depth accuracy on the Eigen protocol: the seven standard metrics of Eigen et al.

The protocol as Monodepth2's ``evaluate_depth.py`` runs it on KITTI: the prediction is resized
to the ground truth's resolution (through inverse depth), pixels are kept where ground truth
lies in (1e-3, 80) m and inside Garg's crop, each image is median-scaled, the prediction is
clamped into the depth range, and the per-image metrics are averaged over the set. The spread
of the per-image scale ratios is reported beside them.
"""

from dataclasses import dataclass, field

from defeat_ros.geometry import resize
import numpy as np
import torch

METRICS = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'a1', 'a2', 'a3')
"""The seven metrics, in the order papers print them (lower is better for the first four)."""

MIN_DEPTH = 1e-3
"""Smallest ground-truth depth (m) that counts."""

MAX_DEPTH = 80.0
"""Largest ground-truth depth (m) that counts; predictions are clamped to it."""

GARG_CROP = (0.40810811, 0.99189189, 0.03594771, 0.96405229)
"""Garg et al.'s crop as fractions (top, bottom) of the height and (left, right) of the width."""


def median(values):
    """Return the median of a 1-D tensor as NumPy defines it (mean of the middle two)."""
    ordered = values.flatten().sort().values
    n = ordered.numel()
    return 0.5 * (ordered[(n - 1) // 2] + ordered[n // 2])


def depth_metrics(prediction, ground_truth, min_depth=MIN_DEPTH, max_depth=MAX_DEPTH,
                  median_scaling=True, mask=None):
    """
    Metrics of one depth map against ground truth (same shape, metres).

    Pixels with ground truth outside (min_depth, max_depth), a non-finite prediction or a False
    ``mask`` are ignored. With ``median_scaling`` the prediction is first multiplied by
    median(gt) / median(pred), as monocular methods are evaluated; the ratio is returned as
    ``scale``. Predictions are then clamped into the depth range.

    :param prediction: predicted depth, any shape.
    :param ground_truth: ground-truth depth of the same shape; 0, inf or NaN where unknown.
    :param mask: optional bool tensor of the same shape: pixels that may count (e.g. a crop).
    :return: dict of floats: abs_rel, sq_rel, rmse, rmse_log, a1, a2, a3 (delta < 1.25^k) and
        scale.
    """
    valid = (ground_truth > min_depth) & (ground_truth < max_depth) & torch.isfinite(prediction)
    if mask is not None:
        valid = valid & mask.to(torch.bool).expand_as(valid)
    gt = ground_truth[valid].double()
    pred = prediction[valid].double()
    if gt.numel() == 0:
        raise ValueError('no valid ground-truth pixels to evaluate')
    scale = (median(gt) / median(pred)).item() if median_scaling else 1.0
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


def garg_crop_mask(height, width, device=None):
    """
    Garg's crop of an H x W image as an H x W bool tensor (True inside).

    Rows ``int(0.40810811 H)`` to ``int(0.99189189 H)`` and columns ``int(0.03594771 W)`` to
    ``int(0.96405229 W)`` (end exclusive, truncated as Monodepth2 does): 375 x 1242 KITTI images
    keep rows 153-370 and columns 44-1196.
    """
    top, bottom, left, right = GARG_CROP
    mask = torch.zeros(height, width, dtype=torch.bool, device=device)
    mask[int(top * height):int(bottom * height), int(left * width):int(right * width)] = True
    return mask


def resize_depth(depth, height, width):
    """
    Resize depth ... x h x w to ... x H x W through its inverse, as Monodepth2 resizes disparity.

    Bilinear interpolation of inverse depth (``align_corners=False``, the sampling of
    ``cv2.resize``) keeps edges between near and far surfaces from blending into phantom
    mid-range depths as much as interpolating depth would.
    """
    if tuple(depth.shape[-2:]) == (height, width):
        return depth
    shape = depth.shape
    flat = depth.reshape(-1, 1, *shape[-2:]).double()
    inverse = resize(1.0 / flat, height, width)
    return (1.0 / inverse).to(depth.dtype).reshape(*shape[:-2], height, width)


def eigen_depth_metrics(prediction, ground_truth, crop=True, median_scaling=True,
                        min_depth=MIN_DEPTH, max_depth=MAX_DEPTH, mask=None):
    """
    Metrics of one image on the Eigen protocol.

    :param prediction: predicted depth (H' x W', 1 x H' x W' or similar); resized to the ground
        truth's resolution through inverse depth when it differs.
    :param ground_truth: ground-truth depth ... x H x W (0 / inf / NaN where unknown).
    :param crop: apply Garg's crop.
    :param mask: optional extra H x W bool mask of pixels that may count.
    :return: the dict of :func:`depth_metrics`.
    """
    height, width = ground_truth.shape[-2:]
    prediction = resize_depth(prediction, height, width).reshape(ground_truth.shape)
    keep = garg_crop_mask(height, width, ground_truth.device) if crop else None
    if mask is not None:
        mask = mask.to(torch.bool).reshape(height, width)
        keep = mask if keep is None else keep & mask
    return depth_metrics(prediction, ground_truth, min_depth, max_depth, median_scaling,
                         keep.expand_as(ground_truth) if keep is not None else None)


def ratio_spread(ratios):
    """
    Summarise per-image median-scaling ratios as Monodepth2 prints them.

    :param ratios: sequence of per-image scale ratios median(gt) / median(pred).
    :return: dict: ``ratio_median``, ``ratio_mean`` and ``ratio_std``, the standard deviation
        of the ratios divided by their median (population std: NumPy's ``np.std(r / med)``).
        A small spread means the network's scale is consistent from image to image.
    """
    values = np.asarray(ratios, dtype=np.float64)
    if values.size == 0:
        return {'ratio_median': float('nan'), 'ratio_mean': float('nan'),
                'ratio_std': float('nan')}
    med = float(np.median(values))
    return {'ratio_median': med, 'ratio_mean': float(values.mean()),
            'ratio_std': float(np.std(values / med))}


@dataclass
class DepthEvaluation:
    """
    Accumulate per-image Eigen-protocol metrics over a set and summarise them.

    ``add`` each image; ``summary()`` averages every metric over the images (the mean of the
    per-image values, as the literature reports them) and adds the ratio spread.
    """

    crop: bool = True
    """Apply Garg's crop."""
    median_scaling: bool = True
    """Scale each prediction by median(gt) / median(pred)."""
    min_depth: float = MIN_DEPTH
    """Smallest ground-truth depth that counts (m)."""
    max_depth: float = MAX_DEPTH
    """Largest ground-truth depth that counts (m)."""
    per_image: list = field(default_factory=list)
    """The per-image metric dicts so far."""

    def add(self, prediction, ground_truth, mask=None):
        """Evaluate one image (see :func:`eigen_depth_metrics`); returns its metrics."""
        metrics = eigen_depth_metrics(prediction, ground_truth, self.crop, self.median_scaling,
                                      self.min_depth, self.max_depth, mask)
        self.per_image.append(metrics)
        return metrics

    def summary(self):
        """Return the mean of each metric over the images, ``images`` and the ratio spread."""
        if not self.per_image:
            raise ValueError('no images were evaluated')
        result = {name: float(np.mean([m[name] for m in self.per_image])) for name in METRICS}
        result['images'] = len(self.per_image)
        if self.median_scaling:
            result.update(ratio_spread([m['scale'] for m in self.per_image]))
        return result
