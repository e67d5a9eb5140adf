"""The composite DeFeatLoss: with every switch, ground-truth geometry scores best."""

from defeat_ros.geometry import pose_to_matrix
from defeat_ros.losses import DeFeatLoss, LossConfig
from defeat_ros.nets import disparity_to_depth, TrainOutputs
import pytest
import torch

MIN_DEPTH, MAX_DEPTH = 0.1, 100.0


def to_depth(disparity):
    return disparity_to_depth(disparity, MIN_DEPTH, MAX_DEPTH)


def to_disparity(depth):
    """Inverse of disparity_to_depth."""
    return (1.0 / depth - 1.0 / MAX_DEPTH) / (1.0 / MIN_DEPTH - 1.0 / MAX_DEPTH)


def image_features(image):
    return torch.nn.functional.normalize(image - 0.5, dim=1)


def outputs_from_geometry(views, t_source_target):
    """Build TrainOutputs holding the exact depth pyramid and the given pose for one source."""
    disparity = to_disparity(views.target_depth)
    pyramid = [torch.nn.functional.avg_pool2d(disparity, 2 ** s) if s else disparity
               for s in range(4)]
    return TrainOutputs(
        disparities=pyramid,
        features=image_features(views.target),
        source_features=[image_features(views.source)],
        poses=[t_source_target],
        source_disparities=[to_disparity(views.source_depth)],
        encoder_features=torch.nn.functional.avg_pool2d(views.target, 2),
        source_encoder_features=[torch.nn.functional.avg_pool2d(views.source, 2)],
        explainability=[[torch.full_like(d, 0.9) for d in pyramid]],
    )


CONFIGS = {
    'defeat': LossConfig(),
    'no_features': LossConfig(feature_warp_weight=0.0, contrastive_weight=0.0),
    'sfmlearner': LossConfig(explainability=True, min_reprojection=False, automask=False),
    'bidirectional': LossConfig(bidirectional=True),
    'charbonnier': LossConfig(pointwise='charbonnier'),
    'local_negatives': LossConfig(contrastive_radius=25.0),
}


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_true_geometry_scores_better_than_a_wrong_pose(two_views, name):
    torch.manual_seed(0)
    loss = DeFeatLoss(CONFIGS[name])
    v = two_views
    true_total, true_terms = loss(outputs_from_geometry(v, v.t_source_target), v.target,
                                  [v.source], v.k_norm, to_depth)
    wrong_pose = pose_to_matrix(torch.tensor([[0.0, 0.02, 0.0]]),
                                torch.tensor([[0.2, 0.0, 0.0]])) @ v.t_source_target
    wrong_total, wrong_terms = loss(outputs_from_geometry(v, wrong_pose), v.target, [v.source],
                                    v.k_norm, to_depth)
    assert torch.isfinite(true_total)
    assert true_total < wrong_total
    key = 'bidirectional_photometric' if CONFIGS[name].bidirectional else 'photometric'
    assert true_terms[key] < 0.7 * wrong_terms[key]
    if CONFIGS[name].feature_warp_weight:
        assert true_terms['feature_warp'] < 0.7 * wrong_terms['feature_warp']
    else:
        assert true_terms['feature_warp'] == 0


def test_loss_config_rejects_bad_values():
    with pytest.raises(ValueError, match='scales'):
        LossConfig(scales=5)
    with pytest.raises(ValueError, match='correspondences'):
        LossConfig(correspondences='everything')
    with pytest.raises(ValueError, match='unknown LossConfig fields'):
        LossConfig.from_dict({'smoothnes_weight': 1.0})
    assert LossConfig.from_dict(LossConfig(bidirectional=True).to_dict()).bidirectional


def test_loss_config_loads_from_yaml(tmp_path):
    path = tmp_path / 'loss.yaml'
    path.write_text('bidirectional: true\ncontrastive_radius: 25.0\n')
    config = LossConfig.from_yaml(path)
    assert config.bidirectional and config.contrastive_radius == 25.0
    assert config.ssim_weight == LossConfig().ssim_weight
    path.write_text('- not a mapping\n')
    with pytest.raises(ValueError, match='expected a mapping'):
        LossConfig.from_yaml(path)


def loss_terms(config, views, sources=2):
    """Total and terms of ``config`` on the true geometry with ``sources`` copies of the source."""
    torch.manual_seed(0)
    outputs = outputs_from_geometry(views, views.t_source_target)
    outputs.poses = outputs.poses * sources
    outputs.source_features = outputs.source_features * sources
    return DeFeatLoss(config)(outputs, views.target, [views.source] * sources, views.k_norm,
                              to_depth)


def test_reference_balance_weighs_the_feature_terms_as_the_reference_code(two_views):
    """Reference: feature terms once, from scale 0, in the sum over 4 scales divided by 4."""
    total, terms = loss_terms(LossConfig(), two_views)
    assert total == pytest.approx((terms['photometric'] + terms['smoothness']
                                   + terms['feature_warp'] / 4
                                   + 2 * terms['contrastive'] / 4).item(), rel=1e-6)
    _, scale_0 = loss_terms(LossConfig(scales=1), two_views)
    assert terms['feature_warp'] == pytest.approx(scale_0['feature_warp'].item(), rel=1e-6)
    assert terms['contrastive'] == pytest.approx(scale_0['contrastive'].item(), rel=1e-6)


def test_per_scale_balance_averages_the_feature_warp_over_scales(two_views):
    total, terms = loss_terms(LossConfig(feature_balance='per_scale'), two_views)
    assert total == pytest.approx((terms['photometric'] + terms['smoothness']
                                   + terms['feature_warp'] + terms['contrastive']).item(),
                                  rel=1e-6)
    per_scale = [loss_terms(LossConfig(scales=1), two_views)[1]['feature_warp']]
    for scales in (2, 3, 4):
        # The mean over n scales, times n, minus the sum over n - 1: scale n - 1 alone.
        mean_n = loss_terms(LossConfig(scales=scales, feature_balance='per_scale'),
                            two_views)[1]['feature_warp']
        per_scale.append(mean_n * scales - sum(per_scale))
    assert terms['feature_warp'] == pytest.approx(sum(per_scale).item() / 4, rel=1e-5)
    assert per_scale[3] > per_scale[0]  # coarse depth warps worse: the scales differ
    with pytest.raises(ValueError, match='feature_balance'):
        LossConfig(feature_balance='equal')
