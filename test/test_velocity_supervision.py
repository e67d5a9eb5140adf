"""Velocity supervision: distances from speed, the loss on hand-computed values, in DeFeatLoss."""

from defeat_ros.data.travel import travelled_distances
from defeat_ros.geometry import pose_to_matrix
from defeat_ros.losses import DeFeatLoss, LossConfig, VelocitySupervision
import numpy as np
import pytest
from test_defeat_loss import outputs_from_geometry, to_depth
import torch


def translations(*vectors):
    """One B x 4 x 4 pose per source, B = 1, with the given translations."""
    return [pose_to_matrix(torch.zeros(1, 3), torch.tensor([vector], dtype=torch.float32))
            for vector in vectors]


def test_the_loss_is_the_mean_length_error_over_known_distances():
    poses = translations([3.0, 4.0, 0.0], [0.0, 0.0, -2.0], [1.0, 0.0, 0.0])
    distances = torch.tensor([[4.0, float('nan'), 1.5]])
    # |5 - 4| = 1 and |1 - 1.5| = 0.5; the unknown distance does not count.
    assert VelocitySupervision()(poses, distances).item() == pytest.approx(0.75)
    # A 10 % tolerance forgives 0.4 m and 0.15 m of them.
    assert VelocitySupervision(0.1)(poses, distances).item() == pytest.approx((0.6 + 0.35) / 2)
    assert VelocitySupervision()(poses, torch.full((1, 3), float('nan'))).item() == 0


def test_the_loss_pulls_the_translation_length_towards_the_distance():
    translation = torch.tensor([[0.3, 0.0, 0.4]], requires_grad=True)
    loss = VelocitySupervision()([pose_to_matrix(torch.zeros(1, 3), translation)],
                                 torch.tensor([[1.0]]))
    loss.backward()
    # d|t|/dt = t / |t| = (0.6, 0, 0.8); the loss falls as t grows towards length 1.
    np.testing.assert_allclose(translation.grad.numpy(), [[-0.6, 0.0, -0.8]], atol=1e-6)


def test_distances_integrate_the_speed_between_target_and_source():
    speeds = np.array([1.0, 2.0, 3.0, np.nan])
    stamps = np.array([0.0, 0.1, 0.2, 0.3])
    np.testing.assert_allclose(travelled_distances(speeds, stamps, 1, [-1, 1]), [0.15, 0.25])
    np.testing.assert_allclose(travelled_distances(speeds, stamps, 0, [2]), [0.4])
    assert np.isnan(travelled_distances(speeds, stamps, 2, [-1, 1])).tolist() == [False, True]
    assert np.isnan(travelled_distances(None, stamps, 1, [-1, 1])).all()


def test_defeat_loss_adds_the_weighted_velocity_term(two_views):
    """The views' true motion is about 0.8 m; a known distance of 2 m costs the difference."""
    v = two_views
    length = v.t_source_target[0, :3, 3].norm().item()

    def loss(weight, distances):
        torch.manual_seed(0)  # the same contrastive draws
        return DeFeatLoss(LossConfig(velocity_weight=weight))(
            outputs_from_geometry(v, v.t_source_target), v.target, [v.source], v.k_norm,
            to_depth, distances)

    unknown, _ = loss(0.5, None)
    total, terms = loss(0.5, torch.tensor([[2.0]]))
    assert terms['velocity'].item() == pytest.approx(2.0 - length, rel=1e-5)
    assert total.item() == pytest.approx(unknown.item() + 0.5 * (2.0 - length), rel=1e-5)
    assert loss(0.0, torch.tensor([[2.0]]))[0].item() == pytest.approx(unknown.item())
    with pytest.raises(ValueError, match='velocity'):
        LossConfig(velocity_tolerance=1.5)
