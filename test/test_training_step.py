"""The one training step: it learns, clips, and skips non-finite losses and gradients."""

import math

from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.losses import DeFeatLoss, LossConfig
from defeat_ros.nets import DeFeatNet, ModelConfig
from defeat_ros.trainer.step import recorded_objective, TrainingStep
import pytest
import torch

SEQUENCE = render_sequence(WorldConfig(width=96, height=64, frames=4, seed=2))


def parts(optimiser=torch.optim.Adam, learning_rate=1e-3):
    """Return a small seeded DeFeatNet, its loss and an optimiser over it."""
    torch.manual_seed(0)
    model = DeFeatNet(ModelConfig(height=64, width=96, encoder_width=16, feature_dims=8))
    return (model, DeFeatLoss(LossConfig(contrastive_positives=64)),
            optimiser(model.parameters(), lr=learning_rate))


def batch(poison=False):
    """Two triplets of the drive: target B x 3 x H x W, sources B x 2 x 3 x H x W."""
    images = SEQUENCE.images
    target = images[1:3].clone()
    if poison:
        target[0] = math.nan
    return {'target': target, 'sources': torch.stack([images[0:2], images[2:4]], 1),
            'k_norm': SEQUENCE.k_norm.expand(2, 3, 3)}


def weights(model):
    """Return copies of the model's parameters."""
    return [p.detach().clone() for p in model.parameters()]


def unchanged(model, before):
    """Whether the model's parameters still equal ``before``."""
    return all(torch.equal(a, b) for a, b in zip(model.parameters(), before))


def test_a_step_updates_the_weights_and_returns_the_loss_terms():
    model, loss, optimiser = parts()
    before = weights(model)
    result = TrainingStep(model, loss, optimiser, [-1, 1])(batch())
    assert result.skipped == ''
    assert math.isfinite(float(result.terms['total'])) and float(result.terms['total']) > 0
    assert result.outputs.disparities[0].shape == (2, 1, 64, 96)
    assert not unchanged(model, before)


@pytest.mark.parametrize('clip', [1e-4, 0.0])
def test_the_global_gradient_norm_is_clipped(clip):
    model, loss, optimiser = parts(torch.optim.SGD, learning_rate=1.0)
    before = weights(model)
    TrainingStep(model, loss, optimiser, [-1, 1], grad_clip=clip)(batch())
    change = torch.cat([(a.detach() - b).flatten() for a, b in zip(model.parameters(), before)])
    if clip:
        assert change.norm() == pytest.approx(clip, rel=1e-3)  # SGD at lr 1: the gradient
    else:
        assert change.norm() > 100 * 1e-4


def test_a_non_finite_loss_skips_without_touching_the_weights():
    model, loss, optimiser = parts()
    before = weights(model)
    result = TrainingStep(model, loss, optimiser, [-1, 1])(batch(poison=True))
    assert result.skipped == 'non-finite loss in 1 of 1 processes'
    assert not math.isfinite(float(result.terms['total']))
    assert unchanged(model, before)
    assert all(p.grad is None for p in model.parameters())


def test_a_non_finite_loss_in_another_process_skips_this_one_too():
    model, loss, optimiser = parts()
    before = weights(model)
    sums = []

    def sum_over_processes(flag):
        sums.append(flag.clone())
        return flag + 1  # the other process saw a non-finite loss

    step = TrainingStep(model, loss, optimiser, [-1, 1], sum_over_processes=sum_over_processes,
                        processes=2)
    assert step(batch()).skipped == 'non-finite loss in 1 of 2 processes'
    assert [s.tolist() for s in sums] == [[0.0]]  # this process's own loss was finite
    assert unchanged(model, before)


def test_a_non_finite_gradient_skips_without_loss_scaling_and_is_unscaled_with_it():
    for scaled in (False, True):
        model, loss, optimiser = parts()
        before = weights(model)
        model.depth_net.decoder.heads['0'][1].weight.register_hook(lambda g: g * math.inf)
        scaler = torch.amp.GradScaler('cpu', init_scale=2.0 ** 8, enabled=scaled)
        result = TrainingStep(model, loss, optimiser, [-1, 1], scaler=scaler,
                              amp_dtype=torch.float16 if scaled else None)(batch())
        # The GradScaler skips the update itself and lowers its scale.
        assert result.skipped == ('' if scaled else 'non-finite gradient norm inf')
        assert unchanged(model, before)
        assert scaler.get_scale() == (2.0 ** 7 if scaled else 1.0)


def test_recorded_objective_reads_the_models_train_config():
    recorded = {'data': {'offsets': [-2, 1]},
                'loss': {'contrastive_positives': 64, 'smoothness_weight': 0.01}}
    offsets, loss = recorded_objective(ModelConfig(provenance={'train_config': recorded}))
    assert offsets == [-2, 1]
    assert loss == LossConfig(contrastive_positives=64, smoothness_weight=0.01)
    assert recorded_objective(ModelConfig()) == ([-1, 1], LossConfig())


def test_fine_tuning_supervises_velocity_where_training_had_no_speed_labels():
    """A model metric from exact depth still learns the user's vehicle speed in fine-tuning."""
    recorded = {'loss': {'velocity_weight': 0.0, 'depth_supervision_weight': 1.0}}
    _, loss = recorded_objective(ModelConfig(provenance={'train_config': recorded}))
    assert loss.velocity_weight == LossConfig().velocity_weight > 0
    assert loss.depth_supervision_weight == 0
    recorded = {'loss': {'velocity_weight': 0.5}}
    assert recorded_objective(ModelConfig(provenance={'train_config': recorded}))[
        1].velocity_weight == 0.5
