"""
Online fine-tuning replays the source model's training data with its depth supervision.

The camera's frames are never depth-supervised; replayed samples carry their exact depth and
take ``replay`` of the draws; data that cannot be rebuilt here leaves the camera's frames alone.
"""

from dataclasses import replace

from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.nets import DeFeatNet, ModelConfig, save_model
from defeat_ros.trainer.online import OnlineConfig, OnlineFinetuner
from test_online_finetune import train_on
import torch

DRIVE = render_sequence(WorldConfig(width=96, height=64, frames=14, seed=11))
STREET = {'seeds': [3], 'frames': 6, 'lighting': 'day'}
"""The recorded training data: 6 frames, so 4 targets with both neighbours."""


def trained_on(tmp_path, dataset='synthetic', source=STREET):
    """Save a small model whose provenance records depth-supervised training on ``dataset``."""
    torch.manual_seed(0)
    config = ModelConfig(height=64, width=96, encoder_width=16, feature_dims=8)
    recorded = {'data': {'dataset': dataset, 'source': source},
                'loss': {'contrastive_positives': 64, 'depth_supervision_weight': 0.5}}
    return save_model(DeFeatNet(replace(config, provenance={'train_config': recorded})),
                      tmp_path / 'model')


def run(model, tmp_path, replay):
    """Fine-tune ``model`` on the drive until two steps are done; return (tuner, log lines)."""
    logged = []
    tuner = train_on(OnlineFinetuner(model, OnlineConfig(
        checkpoint_dir=str(tmp_path / 'online'), step_rate=50.0, validate_every=1000,
        min_triplets=2, replay=replay), [].append, log=logged.append), DRIVE, steps=2)
    assert tuner.stats.rollbacks == 0, tuner.stats.last_event
    return tuner, logged


def test_replayed_samples_carry_their_depth_in_their_share_of_the_draws(tmp_path):
    tuner, logged = run(trained_on(tmp_path), tmp_path, replay=0.5)
    assert any("replays the source model's training data (4 samples) in 50% of the draws"
               in line for line in logged), logged
    assert tuner.loss_fn.config.depth_supervision_weight == 0.5
    draws = [tuner._draw() for _ in range(100)]  # batch_size 2: 200 samples
    replayed = sum(sample[3] is not None for draw in draws for sample in draw)
    assert 70 <= replayed <= 130, replayed
    mixed = next(draw for draw in draws if sum(s[3] is not None for s in draw) == 1)
    batch = tuner._batch(mixed)
    live = [s[3] is None for s in mixed].index(True)
    assert batch['depth'].shape == (2, 1, 64, 96)
    assert not batch['depth'][live].any() and (batch['depth'][1 - live] > 0).any()
    assert batch['sources'].shape == (2, 2, 3, 64, 96)


def test_without_replay_the_camera_frames_are_trained_on_alone(tmp_path):
    tuner, logged = run(trained_on(tmp_path), tmp_path, replay=0.0)
    assert tuner.loss_fn.config.depth_supervision_weight == 0.0
    assert not any('replay' in line for line in logged), logged
    assert all(sample[3] is None for sample in tuner._draw())


def test_training_data_that_cannot_be_rebuilt_is_named(tmp_path):
    tuner, logged = run(trained_on(tmp_path, 'kitti', {'root': '/nonexistent/kitti'}),
                        tmp_path, replay=0.5)
    assert any('without replay' in line and 'kitti' in line for line in logged), logged
    assert all(sample[3] is None for sample in tuner._draw())
