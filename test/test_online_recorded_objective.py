"""Online fine-tuning trains with the offsets and the loss the model records it trained with."""

from dataclasses import replace

from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.losses import DeFeatLoss, LossConfig
from defeat_ros.nets import DeFeatNet, load_model, ModelConfig, save_model
from defeat_ros.ros.graph import wait_for
from defeat_ros.trainer.online import OnlineConfig, OnlineFinetuner
from defeat_ros.trainer.step import measure_loss
import pytest
import torch

DRIVE = render_sequence(WorldConfig(width=96, height=64, frames=14, seed=11))
LOSS = {'contrastive_positives': 64, 'smoothness_weight': 0.01}


def recorded_model(tmp_path, offsets):
    """Save a small model whose provenance records training with ``offsets`` and LOSS."""
    torch.manual_seed(0)
    config = ModelConfig(height=64, width=96, encoder_width=16, feature_dims=8)
    model = DeFeatNet(replace(config, provenance={'train_config': {
        'data': {'offsets': offsets}, 'loss': LOSS}}))
    return save_model(model, tmp_path / 'model')


def feed(model, tmp_path, step_rate):
    """Start a fine-tuner on ``model`` and give it every frame of the drive."""
    settings = OnlineConfig(checkpoint_dir=str(tmp_path / 'online'), step_rate=step_rate,
                            validate_every=1000, min_triplets=2, learning_rate=1e-4)
    tuner = OnlineFinetuner(model, settings, lambda _: None, log=lambda _: None)
    for image in DRIVE.images:
        tuner.add_frame(image.unsqueeze(0), DRIVE.k_norm)
    return tuner


def quantised(frame):
    """Return frame 3 x H x W as the fine-tuner keeps it: 1 x 3 x H x W, 8 bits."""
    return ((frame.clamp(0, 1) * 255).round() / 255).unsqueeze(0)


def test_the_held_out_criterion_uses_the_recorded_offsets_and_loss(tmp_path):
    model = recorded_model(tmp_path, [-2, 2])
    tuner = feed(model, tmp_path, step_rate=1e-3)  # no training step before close
    try:
        assert tuner.loss_fn.config == LossConfig(**LOSS)
        assert tuner.stats.triplets + tuner.stats.held_out == len(DRIVE) - 4
        measured = tuner.validation_loss()
    finally:
        tuner.close()
    # Every fifth frame tuple is held out: tuple n (from 1) has target frame n + 1.
    net, loss_fn = load_model(model), DeFeatLoss(LossConfig(**LOSS))
    # The criterion is the photometric error: no speed, and the loss is not bidirectional.
    losses = [measure_loss(net, loss_fn, quantised(DRIVE.images[target]),
                           [quantised(DRIVE.images[target + o]) for o in (-2, 2)], [-2, 2],
                           DRIVE.k_norm[None], seed)[1]['photometric']
              for seed, target in enumerate(range(6, len(DRIVE) - 2, 5))]
    assert measured == pytest.approx(float(torch.stack(losses).mean()), rel=1e-5)


def test_training_steps_with_forward_only_offsets(tmp_path):
    tuner = feed(recorded_model(tmp_path, [1]), tmp_path, step_rate=50.0)
    try:
        assert tuner.stats.triplets + tuner.stats.held_out == len(DRIVE) - 1
        assert wait_for(lambda: tuner.stats.steps >= 2, timeout=120)
    finally:
        tuner.close()
    assert tuner.training_step.offsets == [1]
    assert tuner.stats.rollbacks == 0 and tuner.stats.training_loss > 0
