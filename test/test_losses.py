"""Analytic tests of the losses: each on a case whose answer is known by construction."""

import math

from defeat_ros.geometry import (correspondences, normalise_intrinsics, pixel_grid, pose_to_matrix,
                                 reproject, sample, warp)
from defeat_ros.losses import (BidirectionalConsistency, contrastive_terms, EdgeAwareSmoothness,
                               ExplainabilityLoss, FeatureWarpLoss, MinReprojection,
                               occlusion_mask, PhotometricError, PixelwiseContrastiveLoss,
                               SSIMDistance)
import pytest
import torch


def test_ssim_of_identical_images_is_zero_and_of_different_images_is_not():
    image = torch.rand(2, 3, 20, 30)
    assert SSIMDistance()(image, image).abs().max() < 1e-6
    assert SSIMDistance()(image, torch.rand(2, 3, 20, 30)).mean() > 0.2


def test_photometric_error_weights_ssim_and_l1():
    a = torch.full((1, 3, 8, 8), 0.2)
    b = torch.full((1, 3, 8, 8), 0.6)
    ssim = SSIMDistance()(a, b).mean()
    error = PhotometricError()(a, b)
    assert torch.allclose(error, 0.85 * ssim + 0.15 * 0.4)
    assert PhotometricError()(a, a).abs().max() < 1e-6


def test_charbonnier_pointwise_error():
    a = torch.zeros(1, 1, 4, 4)
    b = torch.full((1, 1, 4, 4), 0.3)
    error = PhotometricError(alpha=0.0, pointwise='charbonnier', charbonnier_eps=0.4)
    assert torch.allclose(error(a, b), torch.full((1, 1, 4, 4), 0.5))
    with pytest.raises(ValueError, match='charbonnier'):
        PhotometricError(pointwise='l2')


def test_contrastive_terms_equal_the_formula_on_hand_computed_values():
    anchors = torch.tensor([[1.0, 0.0]])
    positives = torch.tensor([[0.6, 0.8]])
    negatives = torch.tensor([[[0.0, 1.0], [1.0, 0.2]]])
    positive, negative = contrastive_terms(anchors, positives, negatives, margin=1.5)
    # d+ = |(0.4, -0.8)| = sqrt(0.8); d- = sqrt(2) and 0.2
    assert torch.allclose(positive, torch.tensor([0.5 * 0.8]))
    expected = torch.tensor([[0.5 * (1.5 - math.sqrt(2.0)) ** 2, 0.5 * 1.3 ** 2]])
    assert torch.allclose(negative, expected)
    _, far = contrastive_terms(anchors, positives, negatives, margin=0.1)
    assert torch.all(far == 0)


def constant_features(vector, height=12, width=16):
    values = torch.tensor(vector).view(1, -1, 1, 1)
    return values.expand(1, len(vector), height, width).contiguous()


@pytest.mark.parametrize('radius', [0.0, 5.0])
def test_contrastive_module_on_constant_features(radius):
    target = constant_features([1.0, 0.0, 0.0])
    source = constant_features([0.0, 1.0, 0.0])
    matches = pixel_grid(12, 16)[:2].view(1, 2, 12, 16)
    mask = torch.ones(1, 1, 12, 16)
    d = math.sqrt(2.0)
    below = PixelwiseContrastiveLoss(margin=1.0, negative_radius=radius)
    assert torch.allclose(below(target, source, matches, mask), torch.tensor(0.5 * d * d))
    above = PixelwiseContrastiveLoss(margin=2.0, negative_radius=radius)
    assert torch.allclose(above(target, source, matches, mask),
                          torch.tensor(0.5 * d * d + 0.5 * (2.0 - d) ** 2))


def test_contrastive_module_ignores_pixels_outside_the_mask():
    target = torch.nn.functional.normalize(torch.randn(1, 4, 12, 16), dim=1)
    matches = pixel_grid(12, 16)[:2].view(1, 2, 12, 16)
    mask = torch.zeros(1, 1, 12, 16)
    mask[..., :6, :] = 1
    source = target.clone()
    source[..., 6:, :] = -target[..., 6:, :]  # masked-out half disagrees completely
    loss = PixelwiseContrastiveLoss(margin=0.0)
    assert loss(target, source, matches, mask) < 1e-6
    assert loss(target, source, matches, torch.ones_like(mask)) > 0.5


def test_local_negatives_lie_within_the_radius_and_away_from_the_match():
    loss = PixelwiseContrastiveLoss(num_negatives=50, negative_radius=8.0,
                                    min_negative_distance=3.0)
    matches = torch.tensor([[[50.0, 60.0], [40.0, 30.0]]])  # B x 2 x P, far from the border
    negatives = loss.sample_negatives(matches, 100, 120)
    distance = (negatives - matches.repeat_interleave(50, dim=2)).norm(dim=1)
    assert distance.min() >= 3.0 - 1e-4 and distance.max() <= 8.0 + 1e-4
    spread = PixelwiseContrastiveLoss(num_negatives=200).sample_negatives(matches, 100, 120)
    assert spread[:, 0].max() > 100 and spread[:, 1].max() > 80  # global: the whole image


def test_smoothness_is_zero_on_constant_disparity_and_prefers_edges_at_image_edges():
    smooth = EdgeAwareSmoothness()
    image = torch.rand(1, 3, 16, 16)
    assert smooth(torch.full((1, 1, 16, 16), 0.3), image) == 0
    step = torch.zeros(1, 1, 16, 16)
    step[..., 8:] = 1.0
    disparity = 0.2 + 0.5 * step
    aligned = smooth(disparity, step.expand(1, 3, 16, 16))
    misaligned = smooth(disparity, torch.zeros(1, 3, 16, 16))
    assert 0 < aligned < misaligned
    # Normalised by the mean, so scaling disparity does not change the loss.
    assert torch.allclose(smooth(3 * disparity, image), smooth(disparity, image))


def test_min_reprojection_and_automask_pick_the_expected_sources():
    reprojection = torch.zeros(1, 2, 4, 4)
    reprojection[:, 0, :, :2], reprojection[:, 0, :, 2:] = 0.1, 0.5  # source 0 best on the left
    reprojection[:, 1, :, :2], reprojection[:, 1, :, 2:] = 0.4, 0.2  # source 1 best on the right
    identity = torch.full((1, 2, 4, 4), 0.3)
    identity[:, 1, :2, 2:] = 0.05  # top right: the unwarped source 1 already matches
    result = MinReprojection(identity_noise=0.0)(reprojection, identity)
    expected_source = torch.tensor([0, 0, 1, 1]).expand(1, 1, 4, 4)
    assert torch.equal(result.source, expected_source)
    expected_mask = torch.ones(1, 1, 4, 4)
    expected_mask[..., :2, 2:] = 0
    assert torch.equal(result.automask, expected_mask)
    expected_loss = torch.where(expected_source == 0, 0.1, 0.2)
    expected_loss[..., :2, 2:] = 0.05
    assert torch.allclose(result.loss, expected_loss)
    average = MinReprojection(use_minimum=False, automask=False)(reprojection, identity)
    assert torch.allclose(average.loss, reprojection.mean(dim=1, keepdim=True))
    assert average.automask.all()


def test_occlusion_mask_on_constructed_flows():
    flow = torch.zeros(1, 2, 6, 6)
    flow[:, 0] = 5.0
    backward = -flow.clone()
    backward[..., 2:4, 2:4] = 0.0  # the other view sees something else there: occluded
    mask = occlusion_mask(flow, backward)
    expected = torch.zeros(1, 1, 6, 6)
    expected[..., 2:4, 2:4] = 1
    assert torch.equal(mask, expected)


def layered_scene(height=48, width=96, shift=6.0):
    """Build a near box (2 m) before a far wall (10 m); the source camera moves right."""
    fx = 60.0
    k_norm = normalise_intrinsics(fx, fx, width / 2 - 0.5, height / 2 - 0.5, width, height)[None]
    tx = shift * 2.0 / fx  # the box shifts by `shift` pixels, the wall by shift / 5
    depth = torch.full((1, 1, height, width), 10.0)
    depth[..., 16:32, 40:56] = 2.0
    source_depth = torch.full((1, 1, height, width), 10.0)
    source_depth[..., 16:32, 40 - int(shift):56 - int(shift)] = 2.0
    t_source_target = pose_to_matrix(torch.zeros(1, 3), torch.tensor([[-tx, 0.0, 0.0]]))
    return depth, source_depth, t_source_target, k_norm


def test_occlusion_mask_flags_the_wall_hidden_by_the_box():
    depth, source_depth, t_source_target, k_norm = layered_scene()
    image = torch.rand(1, 3, 48, 96)
    terms = BidirectionalConsistency()(image, image, depth, source_depth, t_source_target, k_norm)
    occluded = terms.occlusion[0, 0]
    # Wall pixels left of the box land (shifted by 1.2 px) inside the box's source footprint.
    hidden_band = occluded[18:30, 36:38]
    assert hidden_band.mean() == 1.0
    open_wall = torch.cat([occluded[2:14].flatten(), occluded[34:46].flatten()])
    assert open_wall.max() == 0.0
    assert occluded[18:30, 43:53].max() == 0.0  # the box itself is visible in both


def test_depth_structure_consistency_is_small_for_true_depth_and_grows_when_wrong(two_views):
    v = two_views
    terms = BidirectionalConsistency()(v.target, v.source, v.target_depth, v.source_depth,
                                       v.t_source_target, v.k_norm)
    wrong = BidirectionalConsistency()(v.target, v.source, v.target_depth, 1.5 * v.source_depth,
                                       v.t_source_target, v.k_norm)
    assert terms.depth_consistency < 0.02
    assert wrong.depth_consistency > 5 * terms.depth_consistency
    assert wrong.photometric > terms.photometric


def test_feature_perception_is_small_when_features_are_warped_truly(two_views):
    v = two_views
    pooled = torch.nn.functional.avg_pool2d
    bidirectional = BidirectionalConsistency()
    true = bidirectional.perception(pooled(v.target, 2), pooled(v.source, 2), v.target_depth,
                                    v.t_source_target, v.k_norm)
    shuffled = bidirectional.perception(pooled(v.target, 2), pooled(v.source.flip(-1), 2),
                                        v.target_depth, v.t_source_target, v.k_norm)
    assert shuffled > 4 * true


def test_feature_warp_loss_uses_the_chosen_source(two_views):
    v = two_views
    features = torch.nn.functional.normalize(v.target - 0.5, dim=1)
    source_features = torch.nn.functional.normalize(v.source - 0.5, dim=1)
    warped, valid = warp(source_features, v.target_depth, v.t_source_target, v.k_pix)
    garbage = torch.nn.functional.normalize(torch.randn_like(warped), dim=1)
    loss = FeatureWarpLoss()
    choose_true = torch.zeros(1, 1, *valid.shape[-2:], dtype=torch.long)
    good = loss(features, [warped, garbage], choose_true, valid)
    bad = loss(features, [warped, garbage], torch.ones_like(choose_true), valid)
    assert good < 0.1
    assert bad > 5 * good


def test_explainability_regulariser_and_weighting():
    masks = torch.tensor([1.0, 0.5]).view(1, 2, 1, 1)
    loss = ExplainabilityLoss()
    assert torch.allclose(loss.regulariser(masks), torch.tensor(-0.5 * math.log(0.5)))
    assert torch.equal(loss.weight_errors(torch.ones(1, 2, 1, 1), masks), masks)


def test_correspondence_pixels_of_the_scene_match_the_source_render(two_views):
    v = two_views
    pixels, valid = correspondences(v.target_depth, v.t_source_target, v.k_pix)
    # Depth seen from the source equals the source render's depth at the correspondence.
    _, projected_depth = reproject(v.target_depth, v.t_source_target, v.k_pix)
    ratio = (sample(v.source_depth, pixels) / projected_depth)[valid > 0]
    assert ratio.median() == pytest.approx(1.0, abs=1e-3)
    assert (ratio - 1).abs().quantile(0.9) < 0.02
