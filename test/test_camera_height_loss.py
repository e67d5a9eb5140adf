"""Camera-height supervision: the loss on a flat road, in DeFeatLoss, the criterion, training."""

from dataclasses import replace
import json
import math

from defeat_ros.camera.model_location import resolve_model
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.geometry import normalise_intrinsics, pixel_grid, scale_intrinsics
from defeat_ros.losses import CameraHeightLoss, DeFeatLoss, LossConfig
from defeat_ros.nets import load_model
from defeat_ros.nets.defeat_net import TrainOutputs
from defeat_ros.nets.model_dir import read_config
from defeat_ros.trainer.config import TrainConfig
from defeat_ros.trainer.criterion import validation_criterion
from defeat_ros.trainer.trainer import scale_source, Trainer
import pytest
from test_defeat_loss import to_depth, to_disparity
from test_trainer import config
import torch
from torch.utils.data import Dataset

HEIGHT, WIDTH = 64, 96
K_NORM = normalise_intrinsics(0.6 * WIDTH, 0.6 * WIDTH, WIDTH / 2 - 0.5, HEIGHT / 2 - 0.5,
                              WIDTH, HEIGHT)
ROAD = 1.3
"""Metres from the camera centre down to the synthetic road."""


def road(height=ROAD):
    """Depth 1 x 1 x H x W of a level road ``height`` below the camera; 80 m above the horizon."""
    rays = torch.linalg.inv(scale_intrinsics(K_NORM, HEIGHT, WIDTH)) @ pixel_grid(HEIGHT, WIDTH)
    down = rays[1].view(HEIGHT, WIDTH)
    depth = torch.where(down > 0, height / down.clamp(min=1e-6), torch.tensor(80.0))
    return depth.clamp(max=80.0)[None, None]


def wall():
    """Depth 1 x 1 x H x W of a wall 10 m ahead: no ground below the camera."""
    return torch.full((1, 1, HEIGHT, WIDTH), 10.0)


def intrinsics(batch):
    return K_NORM.expand(batch, 3, 3)


def moving(batch, metres=1.0, sources=2):
    """S translations T_source_target B x 4 x 4 of ``metres`` forward, requiring gradients."""
    pose = torch.eye(4).repeat(batch, 1, 1)
    pose[:, 2, 3] = metres
    return [pose.clone().requires_grad_() for _ in range(sources)]


def test_the_loss_is_the_log_ratio_of_the_road_height_to_the_mounting_height():
    depth = road()
    loss = CameraHeightLoss(ROAD)(depth, intrinsics(1), moving(1))
    assert loss.item() == pytest.approx(0.0, abs=1e-5)
    for mounting in (2.0 * ROAD, 0.5 * ROAD):
        loss = CameraHeightLoss(mounting)(depth, intrinsics(1), moving(1))
        assert loss.item() == pytest.approx(math.log(2.0) ** 2, rel=1e-5)


def test_the_gradient_scales_the_translations_not_the_depth():
    """
    The road is twice too near: the translations' log lengths are pulled up.

    Each by the same amount (2 log 2 / S, the squared error's slope); depth, only measured,
    gets no gradient: the photometric warp carries the scale to it, as with velocity
    supervision.
    """
    depth = road().requires_grad_()
    poses = moving(1, metres=0.8)
    CameraHeightLoss(2.0 * ROAD)(depth, intrinsics(1), poses).backward()
    assert depth.grad is None
    for pose in poses:
        along_log_length = (pose.grad[0, :3, 3] * pose[0, :3, 3]).sum().item()
        assert along_log_length == pytest.approx(-math.log(2.0), rel=1e-5)


def test_an_image_without_ground_gives_no_term():
    poses = moving(2)
    loss = CameraHeightLoss(2.0 * ROAD)(torch.cat([road(), wall()]), intrinsics(2), poses)
    assert loss.item() == pytest.approx(math.log(2.0) ** 2, rel=1e-5)  # the road's alone
    loss.backward()
    assert all((pose.grad[1] == 0).all() for pose in poses)
    assert CameraHeightLoss(ROAD)(wall(), intrinsics(1), moving(1)).item() == 0


def test_loss_config_rejects_impossible_values():
    for bad in ({'camera_height_weight': -0.1}, {'camera_height': 0.0},
                {'camera_height': float('nan')}, {'camera_height': float('inf')}):
        with pytest.raises(ValueError, match='camera_height'):
            LossConfig(**bad)
    assert LossConfig().camera_height_weight == 0.0  # off by default


def road_outputs(depths):
    """Return TrainOutputs whose depth pyramid is ``depths`` B x 1 x H x W, one static source."""
    disparity = to_disparity(depths)
    pyramid = [torch.nn.functional.avg_pool2d(disparity, 2 ** s) if s else disparity
               for s in range(4)]
    features = torch.nn.functional.normalize(torch.rand(len(depths), 4, HEIGHT, WIDTH), dim=1)
    return TrainOutputs(disparities=pyramid, features=features, source_features=[features],
                        poses=[torch.eye(4).expand(len(depths), 4, 4)])


def test_defeat_loss_supervises_the_height_only_where_no_speed_is_known():
    """Row 0: road at the mounting height (costs 0); row 1: twice as far (costs log 2)."""
    torch.manual_seed(0)
    outputs = road_outputs(torch.cat([road(), road(2.0 * ROAD)]))
    target = torch.rand(2, 3, HEIGHT, WIDTH)
    known = torch.tensor([[float('nan')], [0.5]])

    def loss(distances, **options):
        torch.manual_seed(0)  # the same contrastive draws
        config = LossConfig(camera_height=ROAD, contrastive_positives=64, **options)
        return DeFeatLoss(config)(outputs, target, [target], intrinsics(2), to_depth, distances)

    off, _ = loss(known)
    total, terms = loss(known, camera_height_weight=0.5)
    assert terms['camera_height'].item() == pytest.approx(0.0, abs=1e-4)  # row 1 has speed
    assert total.item() == pytest.approx(off.item(), abs=1e-4)
    off, off_terms = loss(None)
    assert 'camera_height' not in off_terms
    total, terms = loss(None, camera_height_weight=0.5)  # no speed anywhere: both rows
    assert terms['camera_height'].item() == pytest.approx(math.log(2.0) ** 2 / 2, rel=1e-3)
    assert total.item() == pytest.approx(off.item() + 0.5 * math.log(2.0) ** 2 / 2, rel=1e-4)
    _, terms = loss(known, camera_height_weight=0.5, velocity_weight=0.0)  # speed unused
    assert terms['camera_height'].item() == pytest.approx(math.log(2.0) ** 2 / 2, rel=1e-3)
    criterion = validation_criterion(terms, LossConfig(camera_height_weight=0.5))
    assert criterion.item() == pytest.approx(
        (terms['photometric'] + 0.5 * terms['camera_height']).item())


def test_the_model_records_camera_height_when_that_loss_made_it_metric():
    height = replace(TrainConfig().loss, camera_height_weight=0.1)
    config_on = replace(TrainConfig(), loss=height)
    scale, note = scale_source(config_on, [])
    assert scale == 'camera_height' and 'camera-height supervision (weight 0.1' in note
    scale, note = scale_source(config_on, ['bag topic /odom'])  # speed wins where present
    assert scale == 'velocity' and 'camera-height supervision' in note


class Drive(Dataset):
    """Unaugmented frame triplets of a street drive at the default model's resolution."""

    sequence = render_sequence(WorldConfig(width=192, height=64, frames=8, seed=2))

    def __len__(self):
        return len(self.sequence) - 2

    def __getitem__(self, i):
        target = self.sequence.images[i + 1]
        sources = self.sequence.images[[i, i + 2]]
        return {'target': target, 'sources': sources, 'target_aug': target,
                'sources_aug': sources, 'flipped': False, 'k_norm': self.sequence.k_norm}


def test_three_training_steps_with_the_camera_height_loss(tmp_path):
    """From the default model, whose depth shows the road in some frames (a random one's not)."""
    default = resolve_model('')
    model = {**read_config(default).to_dict(), 'provenance': {}}
    run = config(tmp_path, model=model, init_from=str(default), max_steps=3,
                 loss={'contrastive_positives': 128, 'camera_height_weight': 0.1})
    lines = []
    result = Trainer(run, Drive(), log=lines.append).train()
    note = 'camera-height supervision (weight 0.1, 1.65 m), no speed in the training data'
    assert any(note in line and 'metric' in line for line in lines)
    assert any('camera-height squared log error' in line for line in lines)
    records = [json.loads(line) for line in
               (tmp_path / 'run' / 'logs' / 'scalars.jsonl').read_text().splitlines()]
    heights = [r['camera_height'] for r in records if 'camera_height' in r]
    assert len(heights) == 3 and all(math.isfinite(h) for h in heights)
    assert min(heights) > 0  # 0: no image of the batch showed a plane
    assert all(math.isfinite(r['total']) for r in records if 'total' in r)
    assert load_model(result).config.metric_scale == 'camera_height'
