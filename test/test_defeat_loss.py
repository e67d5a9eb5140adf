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
