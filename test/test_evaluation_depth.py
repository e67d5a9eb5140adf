"""Eigen-protocol depth evaluation on hand-computed values."""

import math

from defeat_ros.evaluation import (depth_metrics, DepthEvaluation, eigen_depth_metrics,
                                   garg_crop_mask, ratio_spread, resize_depth)
from defeat_ros.evaluation.depth import median
import numpy as np
import pytest
import torch


def test_garg_crop_of_a_kitti_image():
    mask = garg_crop_mask(375, 1242)
    assert mask.shape == (375, 1242) and mask.dtype == torch.bool
    rows = mask.any(dim=1).nonzero().flatten()
    columns = mask.any(dim=0).nonzero().flatten()
    # int(0.40810811 * 375) = 153, int(0.99189189 * 375) = 371 (exclusive),
    # int(0.03594771 * 1242) = 44, int(0.96405229 * 1242) = 1197 (exclusive).
    assert (rows[0].item(), rows[-1].item()) == (153, 370)
    assert (columns[0].item(), columns[-1].item()) == (44, 1196)
    assert mask.sum().item() == (371 - 153) * (1197 - 44)


def test_median_averages_the_middle_pair_like_numpy():
    assert median(torch.tensor([4.0, 1.0, 3.0, 2.0])).item() == 2.5
    assert median(torch.tensor([5.0, 1.0, 3.0])).item() == 3.0


def test_median_scaling_uses_the_numpy_median():
    gt = torch.tensor([1.0, 2.0, 3.0, 10.0])  # median 2.5
    pred = torch.tensor([1.0, 1.0, 2.0, 2.0])  # median 1.5
    assert depth_metrics(pred, gt)['scale'] == pytest.approx(2.5 / 1.5)


def test_eigen_metrics_ignore_pixels_outside_the_crop_and_range():
    gt = torch.zeros(1, 100, 200)
    gt[0, 60:90, 20:180] = 10.0  # inside the crop (rows 40-98, columns 7-192)
    gt[0, 0:30, :] = 20.0  # above the crop: must not count
    gt[0, 95:99, 50:60] = 100.0  # beyond 80 m: must not count
    pred = torch.full_like(gt, 5.0)
    pred[0, 0:30, :] = 1.0
    m = eigen_depth_metrics(pred, gt, median_scaling=False)
    assert m['abs_rel'] == pytest.approx(0.5)
    assert m['a1'] == 0.0
    m = eigen_depth_metrics(pred, gt)
    assert m['scale'] == pytest.approx(2.0) and m['abs_rel'] == pytest.approx(0.0, abs=1e-12)
    uncropped = eigen_depth_metrics(pred, gt, crop=False, median_scaling=False)
    assert uncropped['abs_rel'] > 0.5  # the rows above the crop are 95 % off


def test_eigen_metrics_resize_the_prediction_to_the_ground_truth():
    gt = torch.full((1, 40, 80), 8.0)
    m = eigen_depth_metrics(torch.full((1, 1, 10, 20), 4.0), gt, median_scaling=False)
    assert m['abs_rel'] == pytest.approx(0.5)


def test_resize_depth_interpolates_inverse_depth():
    depth = torch.tensor([[[[1.0, 4.0]]]])  # inverse 1 and 0.25
    up = resize_depth(depth, 1, 4)
    # align_corners=False: output centres sit at input x = -0.25 (clamped), 0.25, 0.75, 1.25.
    inverse = torch.tensor([1.0, 1.0 - 0.75 * 0.25, 0.25 + 0.75 * 0.25, 0.25])
    assert torch.allclose(up.flatten(), 1.0 / inverse)


def test_ratio_spread_as_monodepth2_prints_it():
    spread = ratio_spread([1.0, 2.0, 3.0, 4.0])
    assert spread['ratio_median'] == 2.5
    assert spread['ratio_mean'] == 2.5
    # population std of [0.4, 0.8, 1.2, 1.6] = sqrt(0.2)
    assert spread['ratio_std'] == pytest.approx(math.sqrt(0.2))
    assert spread['ratio_std'] == pytest.approx(np.std(np.array([1, 2, 3, 4]) / 2.5))
    assert ratio_spread([3.0, 3.0])['ratio_std'] == 0.0


def test_depth_evaluation_averages_per_image_metrics_and_scales_each_image():
    gt = torch.rand(2, 1, 50, 60) * 40 + 5
    evaluation = DepthEvaluation(crop=False)
    evaluation.add(gt[0] * 0.5, gt[0])  # ratio 2
    evaluation.add(gt[1] * 0.25, gt[1])  # ratio 4
    summary = evaluation.summary()
    assert summary['images'] == 2
    assert summary['abs_rel'] == pytest.approx(0.0, abs=1e-9) and summary['a1'] == 1.0
    assert summary['ratio_median'] == pytest.approx(3.0)
    assert summary['ratio_std'] == pytest.approx(1.0 / 3.0)

    unscaled = DepthEvaluation(crop=False, median_scaling=False)
    unscaled.add(torch.full((1, 2, 2), 1.0), torch.full((1, 2, 2), 2.0))  # abs_rel 0.5
    unscaled.add(torch.full((1, 2, 2), 3.0), torch.full((1, 2, 2), 2.0))  # abs_rel 0.5
    unscaled.add(torch.full((1, 2, 2), 2.0), torch.full((1, 2, 2), 2.0))  # abs_rel 0
    summary = unscaled.summary()
    assert summary['abs_rel'] == pytest.approx(1.0 / 3.0)
    assert summary['rmse'] == pytest.approx(2.0 / 3.0)
    assert 'ratio_std' not in summary


def test_an_empty_evaluation_is_an_error():
    with pytest.raises(ValueError, match='no images'):
        DepthEvaluation().summary()
