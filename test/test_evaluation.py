"""Depth metrics on hand-computed values."""

import math

from defeat_ros.evaluation import depth_metrics
import pytest
import torch


def test_metrics_on_hand_computed_values():
    gt = torch.tensor([2.0, 4.0, 10.0, 0.0, 100.0])  # the last two are outside (0, 80)
    pred = torch.tensor([2.0, 4.8, 7.0, 3.0, 3.0])
    m = depth_metrics(pred, gt, median_scaling=False)
    assert m['abs_rel'] == pytest.approx((0 + 0.2 + 0.3) / 3)
    assert m['sq_rel'] == pytest.approx((0 + 0.64 / 4 + 9 / 10) / 3)
    assert m['rmse'] == pytest.approx(math.sqrt((0 + 0.64 + 9) / 3))
    logs = [0.0, math.log(4.8 / 4), math.log(7 / 10)]
    assert m['rmse_log'] == pytest.approx(math.sqrt(sum(x * x for x in logs) / 3))
    assert m['a1'] == pytest.approx(2 / 3)  # ratios 1, 1.2, 1.43
    assert m['a2'] == 1.0 and m['a3'] == 1.0
    assert m['scale'] == 1.0


def test_median_scaling_removes_a_global_scale():
    gt = torch.rand(1, 20, 30) * 50 + 1
    m = depth_metrics(gt * 0.1, gt)
    assert m['scale'] == pytest.approx(10.0)
    assert m['abs_rel'] < 1e-6 and m['a1'] == 1.0


def test_no_valid_ground_truth_is_an_error():
    with pytest.raises(ValueError, match='no valid ground-truth'):
        depth_metrics(torch.ones(4), torch.zeros(4))
