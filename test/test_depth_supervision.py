"""Depth supervision from exact depth: the term by hand, in DeFeatLoss, and in training."""

import json
import math

from defeat_ros.geometry import resize
from defeat_ros.losses import DeFeatLoss, LossConfig
from defeat_ros.losses.depth_supervision import log_depth_error, log_depth_gradient_error
from defeat_ros.trainer.build import training_dataset
from defeat_ros.trainer.config import TrainConfig
from defeat_ros.trainer.trainer import scale_source, Trainer
import pytest
from test_defeat_loss import outputs_from_geometry, to_depth
import torch


def test_the_error_is_the_mean_absolute_log_ratio_over_pixels_with_truth():
    depth = torch.tensor([[[[2.0, 4.0], [1.0, 5.0]]]])
    truth = torch.tensor([[[[1.0, 4.0], [0.0, math.inf]]]])  # 0 and inf: unknown (sky)
    assert log_depth_error(depth, truth).item() == pytest.approx(math.log(2) / 2)
    assert log_depth_error(depth, torch.zeros_like(truth)).item() == 0
    with pytest.raises(ValueError):
        LossConfig(depth_supervision_weight=-1.0)


def test_the_gradient_error_sees_the_shape_not_the_scale():
    """A depth of the right shape costs nothing at any scale; a blurred edge costs its jumps."""
    truth = torch.full((1, 1, 8, 8), 10.0)
    truth[..., 4:, :] = 40.0  # an edge between rows 3 and 4
    truth[..., 0, :] = 0.0  # unknown (sky)
    assert log_depth_gradient_error(3.0 * truth.clamp_min(1.0), truth).item() == \
        pytest.approx(0.0, abs=1e-6)
    blurred = truth.clone()
    blurred[..., 4, :] = 20.0  # the jump of log 4 in two steps of log 2
    # Level 0: rows 3-4 and 4-5 differ by log 2, 16 of the 49 + 48 pairs with truth; level 1
    # (every other row and column, row 0 unknown) sees rows 2-4 and 4-6: 8 of 9 + 8 pairs.
    expected = 16 * math.log(2) / 97 + 8 * math.log(2) / 17
    assert log_depth_gradient_error(blurred, truth, levels=2).item() == pytest.approx(expected)
    assert log_depth_gradient_error(blurred, torch.zeros_like(truth)).item() == 0


def test_defeat_loss_adds_the_weighted_term_averaged_over_scales(two_views):
    v = two_views
    outputs = outputs_from_geometry(v, v.t_source_target)
    h, w = v.target.shape[-2:]
    truth = 2 * to_depth(outputs.disparities[0])  # twice the scale-0 depth everywhere

    def loss(weight, truth, gradient_weight=0.0):
        torch.manual_seed(0)  # the same contrastive draws
        return DeFeatLoss(LossConfig(depth_supervision_weight=weight,
                                     depth_gradient_weight=gradient_weight))(
            outputs, v.target, [v.source], v.k_norm, to_depth, truth=truth)

    unsupervised, terms = loss(0.5, None)
    assert 'depth_supervision' not in terms
    total, terms = loss(0.5, truth)
    expected = sum(log_depth_error(to_depth(resize(disparity, h, w)), truth)
                   for disparity in outputs.disparities) / 4
    assert terms['depth_supervision'].item() == pytest.approx(expected.item(), rel=1e-5)
    assert log_depth_error(to_depth(outputs.disparities[0]), truth).item() == pytest.approx(
        math.log(2), rel=1e-5)
    assert total.item() == pytest.approx(unsupervised.item() + 0.5 * expected.item(), rel=1e-5)
    # The shape term joins the scale-0 depth's error (averaged over the 4 scales as well).
    assert loss(0.5, truth, 2.0)[1]['depth_supervision'].item() == pytest.approx(
        terms['depth_supervision'].item(), rel=1e-5)  # a depth of the truth's shape: nothing
    uneven = truth * torch.linspace(1.0, 2.0, w)  # a shape error across the image
    shaped = loss(0.5, uneven, 2.0)[1]['depth_supervision'] - loss(0.5, uneven)[1][
        'depth_supervision']
    scale0 = log_depth_gradient_error(to_depth(resize(outputs.disparities[0], h, w)), uneven)
    assert shaped.item() == pytest.approx(2.0 * scale0.item() / 4, rel=1e-4) and shaped > 0


def test_training_on_the_synthetic_world_supervises_depth_and_says_so(tmp_path):
    config = TrainConfig.from_dict({
        'model': {'height': 64, 'width': 96, 'feature_dims': 8, 'encoder_width': 16},
        'loss': {'contrastive_positives': 128, 'depth_supervision_weight': 1.0},
        'data': {'dataset': 'synthetic', 'batch_size': 2, 'workers': 0,
                 'source': {'seeds': [0], 'frames': 6}},
        'epochs': 10, 'max_steps': 3, 'log_every': 1, 'out': str(tmp_path / 'run')})
    lines = []
    Trainer(config, training_dataset(config), log=lines.append).train()
    assert any('depth supervised by the exact depth of the training data (weight 1.0)' in line
               for line in lines)
    records = [json.loads(line) for line in
               (tmp_path / 'run' / 'logs' / 'scalars.jsonl').read_text().splitlines()]
    supervised = [r['depth_supervision'] for r in records
                  if 'depth_supervision' in r]
    assert len(supervised) == 3 and all(0 < value < 10 for value in supervised)


def test_exact_depth_makes_a_model_trained_without_speed_metric():
    """Depth in metres sets the scale where no speed does; speed and the road height come first."""
    config = TrainConfig(loss=LossConfig(depth_supervision_weight=1.0, velocity_weight=0.0))
    scale, note = scale_source(config, ['simulated wheel odometry'], has_depth=True)
    assert scale == 'depth_supervision' and 'velocity supervision off' in note
    assert 'depth supervised by exact depth (weight 1.0)' in note
    with_speed = TrainConfig(loss=LossConfig(depth_supervision_weight=1.0))
    assert scale_source(with_speed, ['simulated wheel odometry'], has_depth=True)[0] == 'velocity'
    assert scale_source(with_speed, [], has_depth=True)[0] == 'depth_supervision'
    with_height = TrainConfig(loss=LossConfig(depth_supervision_weight=1.0,
                                              camera_height_weight=0.1))
    assert scale_source(with_height, [], has_depth=True)[0] == 'camera_height'
    assert scale_source(config, [], has_depth=False)[0] == 'none'
    assert scale_source(TrainConfig(), [], has_depth=True)[0] == 'none'  # supervision off
