"""Pose metrics on hand-computed values: snippet ATE, Umeyama, ATE and RPE (and evo)."""

import math
import sys

from defeat_ros.evaluation import (align_trajectory, chain_motions, relative_motions,
                                   snippet_ate, snippet_ate_summary, snippet_ates,
                                   trajectory_errors, umeyama)
from defeat_ros.evaluation.pose import (apply_similarity, evo_available, relative_errors,
                                        snippet_positions)
from defeat_ros.geometry import pose_to_matrix
import numpy as np
import pytest
import torch


def poses(axis_angles, translations):
    """N x 4 x 4 float64 transforms from lists of axis-angle and translation triples."""
    return pose_to_matrix(torch.tensor(axis_angles, dtype=torch.float64),
                          torch.tensor(translations, dtype=torch.float64)).numpy()


def forward_drive(frames, step=1.0):
    """T_world_camera of a camera moving ``step`` m forward (+z) per frame."""
    return poses([[0.0, 0.0, 0.0]] * frames, [[0.0, 0.0, step * k] for k in range(frames)])


def test_snippet_ate_is_zero_up_to_scale():
    gt = np.array([[0.0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 0, 3], [0, 0, 4]])
    ate, scale = snippet_ate(gt, gt * 0.5)
    assert ate == pytest.approx(0.0, abs=1e-12) and scale == pytest.approx(2.0)


def test_snippet_ate_of_a_known_error():
    gt = np.array([[0.0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 0, 3], [0, 0, 4]])
    pred = gt.copy()
    pred[4, 0] = 1.0  # the last position is 1 m off to the side
    ate, scale = snippet_ate(gt, pred)
    # scale = sum(gt . pred) / sum(pred . pred) = 30 / 31; errors: z_k (30/31 - 1) = -k/31
    # and 30/31 sideways at the end: sum of squares = (30 + 900) / 961.
    assert scale == pytest.approx(30 / 31)
    assert ate == pytest.approx(math.sqrt(930 / 961) / 5)


def test_snippet_ate_moves_the_first_prediction_onto_the_first_truth():
    gt = np.array([[0.0, 0, 0], [0, 0, 1], [0, 0, 2]])
    ate, _ = snippet_ate(gt, gt + np.array([5.0, -2.0, 1.0]))
    assert ate == pytest.approx(0.0, abs=1e-12)


def test_snippet_positions_chain_as_the_published_code():
    # T_next_prev of a 1 m forward step maps points 1 m back: translation (0, 0, -1).
    motions = relative_motions(forward_drive(5))
    assert np.allclose(motions[:, :3, 3], [0.0, 0.0, -1.0])
    positions = snippet_positions(motions)
    assert np.allclose(positions[:, 2], [0.0, -1.0, -2.0, -3.0, -4.0])


def test_snippet_ates_over_a_sequence():
    gt = relative_motions(forward_drive(10))
    pred = gt.copy()
    pred[:, :3, 3] *= 0.1  # right direction, wrong scale: no error
    ates = snippet_ates(pred, gt)
    assert len(ates) == 6 and np.allclose(ates, 0.0)
    assert len(snippet_ates(pred, gt, partial_tail=True)) == 9  # Monodepth2's loop
    pred[4, :3, 3] = [0.1, 0.0, -0.1]  # motion 4 (frames 4 -> 5) veers off
    ates = snippet_ates(pred, gt)
    # Snippet i chains motions i to i + 3: snippets 1-4 hold the bad motion, 0 and 5 do not.
    assert np.allclose(ates[[0, 5]], 0.0) and (ates[1:5] > 0.1).all()
    summary = snippet_ate_summary(pred, gt)
    assert summary['snippets'] == 6 and summary['snippet_length'] == 5
    assert summary['ate_mean'] == pytest.approx(ates.mean())
    assert summary['ate_std'] == pytest.approx(ates.std())
    with pytest.raises(ValueError, match='no snippet'):
        snippet_ates(pred[:2], gt[:2])


def test_chain_motions_inverts_relative_motions():
    world = poses([[0.01, 0.2, -0.03], [0.0, 0.25, 0.0], [0.05, 0.3, 0.01]],
                  [[1.0, 0.1, 2.0], [1.5, 0.1, 3.0], [2.5, 0.0, 3.5]])
    chained = chain_motions(relative_motions(world))
    first_frame = np.linalg.inv(world[0]) @ world
    assert np.allclose(chained, first_frame)


def test_umeyama_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(20, 3))
    rotation = poses([[0.3, -0.5, 0.8]], [[0.0, 0.0, 0.0]])[0, :3, :3]
    translation = np.array([1.0, -2.0, 0.5])
    target = 2.5 * source @ rotation.T + translation
    scale, r, t = umeyama(source, target)
    assert scale == pytest.approx(2.5)
    assert np.allclose(r, rotation) and np.allclose(t, translation)
    assert np.linalg.det(r) == pytest.approx(1.0)
    # Without scale it still finds the best rotation, and never returns a reflection.
    _, r, _ = umeyama(source, source @ np.diag([1.0, 1.0, -1.0]), with_scale=False)
    assert np.linalg.det(r) == pytest.approx(1.0)
    with pytest.raises(ValueError, match='do not span'):
        umeyama(np.ones((4, 3)), source[:4])


def test_ate_of_a_similar_trajectory_is_zero():
    gt = chain_motions(poses([[0.0, 0.05 * k, 0.01] for k in range(12)],
                             [[0.1 * k, 0.0, 1.0] for k in range(12)]))
    moved = apply_similarity(gt, 0.2, poses([[0.1, 1.0, -0.2]], [[0, 0, 0]])[0, :3, :3],
                             np.array([3.0, 1.0, -4.0]))
    aligned, scale = align_trajectory(moved, gt)
    assert scale == pytest.approx(5.0) and np.allclose(aligned, gt)
    errors = trajectory_errors(moved, gt)
    assert errors['ate_rmse'] == pytest.approx(0.0, abs=1e-9)
    assert errors['rpe_trans_rmse'] == pytest.approx(0.0, abs=1e-9)
    assert errors['rpe_rot_rmse_deg'] == pytest.approx(0.0, abs=1e-5)
    assert errors['frames'] == 13 and errors['backend'] == 'builtin'
    assert errors['length_scale'] == pytest.approx(5.0)


def test_length_scale_ignores_a_turn_that_sim3_alignment_pays_for():
    """A straight 10 m drive predicted as a half circle of the same length."""
    gt = forward_drive(11)
    angles = np.linspace(0.0, np.pi, 11)
    radius = 10 / np.pi
    bent = gt.copy()
    bent[:, 0, 3], bent[:, 2, 3] = radius * (1 - np.cos(angles)), radius * np.sin(angles)
    errors = trajectory_errors(bent, gt)
    assert errors['length_scale'] == pytest.approx(1.0, rel=0.01)
    assert errors['scale'] > 1.05  # the arc spans less than the line: sim(3) stretches it


def test_ate_of_a_known_error():
    gt = forward_drive(4)
    pred = gt.copy()
    pred[:, 0, 3] = [0.1, -0.1, -0.1, 0.1]  # 0.1 m to the side, centred, uncorrelated with z
    errors = trajectory_errors(pred, gt, with_scale=False)
    # No shift or turn brings these closer (at most a half turn about the line): every
    # position stays 0.1 m off.
    assert errors['ate_rmse'] == pytest.approx(0.1)
    assert errors['ate_min'] == pytest.approx(0.1) and errors['ate_max'] == pytest.approx(0.1)
    assert errors['scale'] == 1.0


def test_rpe_of_hand_computed_relative_errors():
    gt = forward_drive(3)  # z = 0, 1, 2
    pred = poses([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.1, 0.0]],
                 [[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 3.0]])
    translation, angle = relative_errors(pred, gt)
    # pair (0, 1) is exact; pair (1, 2) moves 2 m instead of 1 and turns 0.1 rad.
    assert np.allclose(translation, [0.0, 1.0]) and np.allclose(angle, [0.0, 0.1])
    errors = trajectory_errors(pred, gt, with_scale=False)  # RPE ignores a rigid alignment
    assert errors['rpe_trans_rmse'] == pytest.approx(math.sqrt(0.5))
    assert errors['rpe_trans_mean'] == pytest.approx(0.5)
    assert errors['rpe_rot_max_deg'] == pytest.approx(math.degrees(0.1))
    translation, _ = relative_errors(pred, gt, delta=2)
    assert np.allclose(translation, [1.0])


def test_unknown_backend_is_an_error():
    gt = forward_drive(4)
    with pytest.raises(ValueError, match='backend'):
        trajectory_errors(gt, gt, backend='tum')


def test_evo_backend_without_evo_says_how_to_get_it(monkeypatch):
    """A ROS workspace installed through rosdep may lack evo: the error says how to get it."""
    for name in [n for n in sys.modules if n == 'evo' or n.startswith('evo.')]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, 'evo', None)  # import evo now raises ImportError
    assert not evo_available()
    gt = forward_drive(4)
    with pytest.raises(RuntimeError, match='pip install evo'):
        trajectory_errors(gt, gt, backend='evo')


def test_builtin_ate_and_rpe_agree_with_evo():
    if not evo_available():
        pytest.skip('evo is not installed (requirements.txt pins evo==1.38.1)')
    generator = torch.Generator().manual_seed(0)
    motions = pose_to_matrix(torch.randn(30, 3, generator=generator) * 0.05,
                             torch.randn(30, 3, generator=generator) * 0.3
                             + torch.tensor([0.0, 0.0, 1.0]))
    gt = chain_motions(motions.double().numpy())
    noise = pose_to_matrix(torch.randn(30, 3, generator=generator) * 0.01,
                           torch.randn(30, 3, generator=generator) * 0.05)
    pred = chain_motions((motions @ noise).double().numpy())  # float32 rotations, chained
    pred[:, :3, 3] *= 0.3
    ours = trajectory_errors(pred, gt)
    theirs = trajectory_errors(pred, gt, backend='evo')
    assert theirs['backend'] == 'evo'
    for key, value in ours.items():
        if key != 'backend':
            assert theirs[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
