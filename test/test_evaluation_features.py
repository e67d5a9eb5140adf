"""Feature metrics: exact ROC-AUC, match distances, global and local negatives."""

import itertools

from defeat_ros.evaluation import (feature_distances, FeatureEvaluation, roc_auc,
                                   true_correspondences)
from defeat_ros.evaluation.features import feature_summary, sample_negatives
from defeat_ros.geometry import pixel_grid, sample
import pytest
import torch


def brute_force_auc(positives, negatives):
    """P(negative > positive) + 1/2 P(tie) over every pair."""
    score = 0.0
    for p, n in itertools.product(positives, negatives):
        score += 1.0 if n > p else 0.5 if n == p else 0.0
    return score / (len(positives) * len(negatives))


def test_auc_on_hand_made_distances_with_ties():
    # Pairs: 0.1 beats 0.2, 0.4, 0.5 (3); 0.4 loses to 0.2, ties 0.4 and beats 0.5 (1.5).
    assert roc_auc([0.1, 0.4], [0.2, 0.4, 0.5]) == pytest.approx(4.5 / 6)
    assert roc_auc([0.1, 0.2], [0.3, 0.4]) == 1.0
    assert roc_auc([0.3, 0.4], [0.1, 0.2]) == 0.0
    assert roc_auc([0.5, 0.5], [0.5, 0.5, 0.5]) == 0.5


def test_auc_matches_brute_force_on_many_ties():
    generator = torch.Generator().manual_seed(3)
    positives = torch.randint(0, 6, (40,), generator=generator).double()
    negatives = torch.randint(2, 9, (55,), generator=generator).double()
    expected = brute_force_auc(positives.tolist(), negatives.tolist())
    assert roc_auc(positives, negatives) == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match='at least one'):
        roc_auc([], [1.0])


def coordinate_features(height, width):
    """2 x H x W features equal to each pixel centre's (x, y): distances are pixel distances."""
    return pixel_grid(height, width)[:2].view(2, height, width).double()


def test_distances_of_true_matches_and_negatives():
    height, width = 60, 80
    features = coordinate_features(height, width)
    pixels = features.float().clone()  # every pixel matches itself
    valid = torch.zeros(height, width, dtype=torch.bool)
    valid[10:50, 10:70] = True
    generator = torch.Generator().manual_seed(0)
    distances = feature_distances(features, features, pixels, valid, max_anchors=1000,
                                  generator=generator)
    assert distances['positive'].numel() == 1000
    assert torch.allclose(distances['positive'], torch.zeros(1000, dtype=torch.float64))
    local = distances['local_negative']
    # Bilinear reads of a linear map are exact away from the border: distance = pixel offset.
    assert local.numel() == 1000 and local.min() >= 3.0 - 1e-9 and local.max() <= 25.0 + 1e-9
    global_ = distances['global_negative']
    assert global_.min() >= 3.0 - 0.75 and global_.max() > 25.0  # border reads clamp
    summary = feature_summary(distances)
    assert summary['positive_distance'] < 1e-9 and summary['anchors'] == 1000
    assert summary['local_auc'] == 1.0 and summary['global_auc'] == 1.0
    assert summary['local_negative_distance'] < summary['global_negative_distance']
    # Local negatives spread evenly over the 3-25 px ring: mean radius (2/3)(R^3-r^3)/(R^2-r^2)
    ring_mean = 2.0 / 3.0 * (25 ** 3 - 3 ** 3) / (25 ** 2 - 3 ** 2)
    assert local.mean().item() == pytest.approx(ring_mean, rel=0.05)


def test_negatives_stay_inside_the_image_and_away_from_the_match():
    generator = torch.Generator().manual_seed(1)
    matches = torch.tensor([[0.5, 0.5], [39.5, 29.5], [20.0, 15.0]], dtype=torch.float64)
    matches = matches.repeat(200, 1)
    for radius in (None, 25.0):
        negatives, ok = sample_negatives(matches, 30, 40, radius, 3.0, generator)
        assert ok.all()
        assert (negatives >= 0).all() and (negatives[:, 0] < 40).all()
        assert (negatives[:, 1] < 30).all()
        offset = (negatives - matches).norm(dim=1)
        assert (offset >= 3.0).all()
        if radius:
            assert (offset <= 25.0).all()


def test_feature_evaluation_pools_image_pairs():
    height, width = 20, 30
    features = coordinate_features(height, width)
    evaluation = FeatureEvaluation(max_anchors=50, seed=0)
    valid = torch.ones(height, width, dtype=torch.bool)
    evaluation.add(features, features, features.float(), valid)
    evaluation.add(features, features, features.float(), valid)
    evaluation.add(features, features, features.float(), torch.zeros_like(valid))  # no matches
    assert evaluation.summary()['anchors'] == 100
    with pytest.raises(ValueError, match='no true correspondences'):
        FeatureEvaluation().summary()


def test_true_correspondences_of_an_exact_two_view_scene(two_views):
    v = two_views
    pixels, valid = true_correspondences(v.target_depth[0], v.t_source_target[0], v.k_pix[0],
                                         source_depth=v.source_depth[0])
    assert pixels.shape == (2,) + v.target.shape[-2:] and valid.dtype == torch.bool
    assert 0.3 < valid.float().mean() < 1.0
    # Sampling the source at true matches reproduces the target.
    warped = sample(v.source, pixels[None])[0]
    error = (warped - v.target[0]).abs().mean(dim=0)[valid]
    assert error.mean() < 0.03
    # Moving objects and unknown depth do not count; an occluder in the source does not either.
    moving = torch.zeros_like(valid)
    moving[:, :40] = True
    _, without_moving = true_correspondences(v.target_depth[0], v.t_source_target[0],
                                             v.k_pix[0], moving=moving)
    assert not without_moving[:, :40].any()
    depth = v.target_depth[0].clone()
    depth[:, :, 100:120] = float('inf')
    _, known = true_correspondences(depth, v.t_source_target[0], v.k_pix[0])
    assert not known[:, 100:120].any()
    occluded_source = v.source_depth[0] * 0.5  # something 2x closer covers every match
    _, visible = true_correspondences(v.target_depth[0], v.t_source_target[0], v.k_pix[0],
                                      source_depth=occluded_source)
    assert not visible.any()
