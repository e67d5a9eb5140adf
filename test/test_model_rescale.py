"""Rescaling a model: depth and translation by the factor; what scale drift cannot fool."""

from dataclasses import replace

from defeat_ros.losses import DeFeatLoss, LossConfig
from defeat_ros.nets import ModelConfig
from defeat_ros.nets.rescale import rescale_model
from defeat_ros.trainer.criterion import validation_criterion
import pytest
from test_defeat_loss import outputs_from_geometry, to_depth
import torch
from untrained import untrained_model


@pytest.mark.parametrize('translation_scaling', ['none', 'mean_inverse_depth'])
def test_depth_and_translation_scale_and_nothing_else(translation_scaling):
    torch.manual_seed(0)
    config = ModelConfig(height=64, width=96, encoder_width=16, feature_dims=8,
                         translation_scaling=translation_scaling, initial_depth=10.0)
    model = untrained_model(config).eval()
    target, source = torch.rand(2, 1, 3, 64, 96)
    with torch.no_grad():
        before = model.forward_train(target, [source], [-1])
        depth = model.to_depth(before.disparities[0])
        rescale_model(model, 3.0)
        after = model.forward_train(target, [source], [-1])
    torch.testing.assert_close(model.to_depth(after.disparities[0]), 3.0 * depth, rtol=1e-4,
                               atol=0)
    torch.testing.assert_close(model.depth_net.depth(target), 3.0 * depth, rtol=1e-4, atol=0)
    torch.testing.assert_close(after.poses[0][:, :3, 3], 3.0 * before.poses[0][:, :3, 3],
                               rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(after.poses[0][:, :3, :3], before.poses[0][:, :3, :3])
    torch.testing.assert_close(after.features, before.features)
    assert (model.config.min_depth, model.config.max_depth) == pytest.approx((0.3, 300.0))
    assert model.config.initial_depth == pytest.approx(30.0)
    with pytest.raises(ValueError, match='positive'):
        rescale_model(model, 0.0)


def test_the_validation_criterion_sees_scale_drift_only_through_speed(two_views):
    """
    Scale drift leaves the photometric error as it was; the velocity error sees it.

    Depth and translation drift larger together; with the distance travelled known, the
    criterion rises by the weighted velocity error.
    """
    loss_fn = DeFeatLoss(LossConfig())
    length = two_views.t_source_target[0, :3, 3].norm().item()

    def criterion(scale, distances=None):
        views = replace(two_views, target_depth=scale * two_views.target_depth)
        pose = two_views.t_source_target.clone()
        pose[:, :3, 3] *= scale
        torch.manual_seed(0)  # the same contrastive draws
        _, terms = loss_fn(outputs_from_geometry(views, pose), views.target, [views.source],
                           views.k_norm, to_depth, distances)
        return validation_criterion(terms, loss_fn.config).item()

    assert criterion(3.0) == pytest.approx(criterion(1.0), rel=1e-3)
    known = torch.tensor([[length]])
    assert criterion(3.0, known) - criterion(1.0, known) == pytest.approx(
        LossConfig().velocity_weight * 2 * length, rel=1e-3)
