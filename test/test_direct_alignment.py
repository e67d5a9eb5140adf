"""Direct alignment recovers a rendered pair's motion from a wrong start and never worsens it."""

from pathlib import Path

from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.direct_alignment import align_pose, alignment_image
from defeat_ros.evaluation.inference import predict_depth, predict_motions, refine_motions
from defeat_ros.evaluation.pose import relative_motions
from defeat_ros.geometry import axis_angle_to_matrix, matrix_to_axis_angle
from defeat_ros.nets import DeFeatNet, load_model, ModelConfig, save_model
from defeat_ros.runtime.perception import Perception
import numpy as np
import pytest
import torch

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / 'models' / 'default'


@pytest.fixture(scope='module')
def pair():
    """Return two consecutive rendered frames (uint8 RGB), the second one's depth, T_0_1."""
    sequence = render_sequence(WorldConfig(width=320, height=96, frames=2, seed=5))
    rgb = (sequence.images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    poses = sequence.poses.double().numpy()
    depth = sequence.depths[1, 0].float().numpy()
    return rgb, np.where(np.isfinite(depth), depth, 1e4), sequence.k_norm.numpy(), \
        np.linalg.inv(poses[0]) @ poses[1]


def perturbed(transform, yaw=0.01, stretch=1.3):
    """``transform`` turned by ``yaw`` rad about the camera's y axis, its translation stretched."""
    turn = np.eye(4)
    turn[:3, :3] = axis_angle_to_matrix(np.array([[0.0, yaw, 0.0]]))[0]
    start = turn @ transform
    start[:3, 3] *= stretch
    return start


def errors(estimate, truth):
    """Return the translation (m) and rotation (rad) errors of a pose against the truth."""
    difference = np.linalg.inv(truth) @ estimate
    return (np.linalg.norm(difference[:3, 3]),
            np.linalg.norm(matrix_to_axis_angle(difference[None, :3, :3])[0]))


def test_alignment_recovers_the_motion_from_a_wrong_start(pair):
    rgb, depth, k_norm, truth = pair
    start = perturbed(truth)
    assert errors(start, truth)[0] > 0.2 and errors(start, truth)[1] > 0.009
    result = align_pose(alignment_image(rgb[1]), alignment_image(rgb[0]), depth, k_norm, start)
    translation, rotation = errors(result.transform, truth)
    assert result.accepted and result.cost_after < result.cost_before
    assert translation < 0.03 * np.linalg.norm(truth[:3, 3])  # from 30 %
    assert rotation < 0.002  # from 0.01 rad


def test_a_pair_the_warp_cannot_explain_keeps_the_start(pair):
    rgb, depth, k_norm, truth = pair
    start = perturbed(truth)
    noise = np.random.default_rng(0).random(rgb[0].shape[:2], dtype=np.float32)
    unrelated = align_pose(alignment_image(rgb[1]), noise, depth, k_norm, start)
    assert unrelated.cost_after <= unrelated.cost_before
    if not unrelated.accepted:
        assert unrelated.transform is start or np.array_equal(unrelated.transform, start)
    nothing_near = align_pose(alignment_image(rgb[1]), alignment_image(rgb[0]), depth, k_norm,
                              start, max_depth=0.5)
    assert not nothing_near.accepted and np.array_equal(nothing_near.transform, start)
    assert np.isnan(nothing_near.cost_before)


@pytest.mark.parametrize('width, reduced', [(640, 640), (1242, 621), (1920, 640), (200, 200)])
def test_alignment_image_is_at_most_640_wide_by_an_integer_factor(width, reduced):
    rgb = np.full((width // 3, width, 3), 200, np.uint8)
    grey = alignment_image(rgb)
    assert grey.shape[1] == reduced and grey.dtype == np.float32
    assert grey.shape[0] == (width // 3) // (width // reduced)
    assert np.allclose(grey, 200 / 255, atol=1 / 255)


def test_perception_refines_posenets_pose_only_when_asked(pair, tmp_path):
    rgb, _, k_norm, _ = pair
    torch.manual_seed(0)
    model = save_model(DeFeatNet(ModelConfig(encoder_width=16, feature_dims=8, height=64,
                                             width=192, pose_scale=1.0)), tmp_path / 'tiny')
    runs = {}
    for refinement in ('direct', 'none'):
        perception = Perception(model, 'pytorch', pose_refinement=refinement, device='cpu')
        perception(rgb[0], k_norm=k_norm)
        runs[refinement] = perception(rgb[1], k_norm=k_norm)
    assert runs['none'].pose_refined is False
    assert runs['direct'].pose_refined is True
    assert not np.allclose(runs['direct'].transform, runs['none'].transform)
    perception.pose_refinement = 'direct'  # changed between frames, as the node does
    perception(rgb[0])
    assert perception(rgb[1]).pose_refined is False  # no intrinsics: PoseNet's pose
    with pytest.raises(ValueError, match='pose_refinement'):
        Perception(model, 'pytorch', pose_refinement='icp', device='cpu')


def test_the_default_models_odometry_gets_better_on_an_unseen_street():
    """models/default on a 640 x 192 street it never saw: per frame pair, smaller errors."""
    model = load_model(DEFAULT_MODEL).eval()
    sequence = render_sequence(WorldConfig(width=640, height=192, frames=10, seed=1000))
    motions = predict_motions(model, sequence.images)
    refined = refine_motions(motions, sequence.images, predict_depth(model, sequence.images),
                             sequence.k_norm, model.config.max_depth)
    truth = relative_motions(sequence.poses)
    posenet = np.array([errors(np.asarray(m, np.float64), t) for m, t in zip(motions, truth)])
    aligned = np.array([errors(np.asarray(m), t) for m, t in zip(refined, truth)])
    assert np.median(aligned[:, 0]) < 0.6 * np.median(posenet[:, 0])
    assert np.median(aligned[:, 1]) < 0.6 * np.median(posenet[:, 1])
