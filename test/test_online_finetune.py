"""
Online fine-tuning: triplets from a stream, validated swaps, rollback on NaN, a static camera.

A small untrained model learns quickly on a synthetic drive, so the held-out loss falls and
the fine-tuner swaps; NaN injected into the training copy's weights makes the loss non-finite
and rolls the weights back without ever swapping.
"""

import math

from defeat_ros.data.body_motion import body_trajectory, body_twists
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.nets import load_model, ModelConfig, save_model
from defeat_ros.ros.graph import wait_for
from defeat_ros.trainer.online import OnlineConfig, OnlineFinetuner
import pytest
import torch
from untrained import untrained_model

HARDER = 4
"""A drive on which the small untrained model's held-out loss is higher than on seed 11's."""


@pytest.fixture(scope='module')
def drive():
    return render_sequence(WorldConfig(width=96, height=64, frames=24, seed=11))


@pytest.fixture
def model(tmp_path):
    torch.manual_seed(0)
    return save_model(untrained_model(ModelConfig(height=64, width=96, encoder_width=16,
                                                  feature_dims=8)), tmp_path / 'model')


def finetuner(model, tmp_path, swapped, **overrides):
    settings = {'checkpoint_dir': str(tmp_path / 'online'), 'step_rate': 50.0,
                'validate_every': 4, 'min_triplets': 4, 'learning_rate': 1e-3,
                'keep_checkpoints': 2, **overrides}
    return OnlineFinetuner(model, OnlineConfig(**settings), swapped.append, log=lambda _: None)


def test_fine_tuning_swaps_in_validated_weights(drive, model, tmp_path):
    swapped = []
    tuner = finetuner(model, tmp_path, swapped)
    try:
        for image in drive.images:
            tuner.add_frame(image.unsqueeze(0), drive.k_norm)
        assert tuner.stats.triplets + tuner.stats.held_out == len(drive) - 2
        assert wait_for(lambda: len(swapped) >= 2, timeout=240)
    finally:
        tuner.close()
    stats = tuner.stats
    assert stats.swaps == len(swapped)
    newest = load_model(swapped[-1])
    original = load_model(model)
    assert not torch.equal(newest.depth_net.decoder.heads['0'][1].weight,
                           original.depth_net.decoder.heads['0'][1].weight)
    assert len(list((tmp_path / 'online').glob('step_*'))) <= 2

    def held_out_loss(weights):
        """Measure ``weights`` on the fine-tuner's held-out triplets (fixed since the drive)."""
        tuner.model.load_state_dict(weights.state_dict())
        return tuner.validation_loss()

    # Each swap beat the weights accepted before it, the weights already running first of all.
    losses = [held_out_loss(original), held_out_loss(load_model(swapped[-2])),
              held_out_loss(newest)]
    assert losses[0] > losses[1] > losses[2], losses
    assert stats.accepted_validation_loss == pytest.approx(losses[2], rel=1e-5)


def test_the_same_weights_never_swap_on_an_easier_held_out_set(drive, model, tmp_path):
    # No training step before close: the copy keeps the accepted weights while the held-out
    # set rolls from a harder drive to an easier one.
    swapped = []
    tuner = finetuner(model, tmp_path, swapped, step_rate=1e-3, buffer_size=8)
    harder = render_sequence(WorldConfig(width=96, height=64, frames=24, seed=HARDER))
    try:
        for image in harder.images:
            tuner.add_frame(image.unsqueeze(0), harder.k_norm)
        tuner._validate()
        first = tuner.stats.validation_loss
        tuner.reset()
        for image in drive.images:
            tuner.add_frame(image.unsqueeze(0), drive.k_norm)
        tuner._validate()
    finally:
        tuner.close()
    stats = tuner.stats
    assert stats.validation_loss < 0.9 * first, (first, stats.validation_loss)
    assert stats.validation_loss == pytest.approx(stats.accepted_validation_loss, rel=1e-6)
    assert swapped == [] and stats.rollbacks == 0


def test_injected_nan_weights_roll_back_and_never_swap(drive, model, tmp_path):
    swapped = []
    tuner = finetuner(model, tmp_path, swapped, validate_every=1000)
    try:
        for image in drive.images:
            tuner.add_frame(image.unsqueeze(0), drive.k_norm)
        assert wait_for(lambda: tuner.stats.steps >= 2, timeout=120)
        with torch.no_grad():
            tuner.model.depth_net.decoder.heads['0'][1].weight.fill_(math.nan)
        assert wait_for(lambda: tuner.stats.rollbacks >= 1, timeout=120)
    finally:
        tuner.close()
    assert swapped == []
    assert 'non-finite' in tuner.stats.last_event
    original = load_model(model).state_dict()
    for name, value in tuner.accepted.items():
        assert torch.equal(value, original[name]), name
    assert all(torch.isfinite(p).all() for p in tuner.model.parameters())


def test_weights_the_node_cannot_run_are_not_accepted(drive, model, tmp_path):
    refused, logged = [], []

    def swap(directory):
        refused.append(directory)
        raise ValueError(f'{directory} differs from the running model')

    tuner = OnlineFinetuner(model, OnlineConfig(
        checkpoint_dir=str(tmp_path / 'online'), step_rate=50.0, validate_every=4,
        min_triplets=4, learning_rate=1e-3), swap, log=logged.append)
    try:
        for image in drive.images:
            tuner.add_frame(image.unsqueeze(0), drive.k_norm)
        assert wait_for(lambda: refused and tuner.stats.rollbacks >= 1, timeout=240)
    finally:
        tuner.close()
    assert tuner.stats.swaps == 0
    assert any('rolled back' in line and 'differs from the running model' in line
               for line in logged), logged
    original = load_model(model).state_dict()
    assert all(torch.equal(tuner.accepted[name], original[name]) for name in original)


def test_non_finite_intrinsics_are_refused(drive, model, tmp_path):
    tuner = finetuner(model, tmp_path, [])
    broken = drive.k_norm.clone()
    broken[0, 0] = math.nan
    try:
        with pytest.raises(ValueError, match='non-finite intrinsics'):
            tuner.add_frame(drive.images[0].unsqueeze(0), broken)
    finally:
        tuner.close()


def test_a_standing_camera_gives_no_triplets(drive, model, tmp_path):
    tuner = finetuner(model, tmp_path, [])
    try:
        for _ in range(10):
            tuner.add_frame(drive.images[0].unsqueeze(0), drive.k_norm)
    finally:
        tuner.close()
    assert tuner.stats.triplets == 0 and tuner.stats.held_out == 0


def speed_run(drive, model, tmp_path, speed_factor):
    """
    Feed the drive with its true speed times ``speed_factor``; return the fine-tuner, log.

    Training (and the rescaling before it) waits for all 18 training tuples of the 24 frames,
    so that every run measures the scale on the same tuples.
    """
    linear, _ = body_twists(body_trajectory(drive.poses), drive.stamps)
    speeds = linear.norm(dim=1) * speed_factor
    logged = []
    tuner = OnlineFinetuner(model, OnlineConfig(
        checkpoint_dir=str(tmp_path / f'online_{speed_factor}'), step_rate=50.0,
        validate_every=1000, min_triplets=18), [].append, log=logged.append)
    try:
        for image, stamp, speed in zip(drive.images, drive.stamps, speeds):
            tuner.add_frame(image.unsqueeze(0), drive.k_norm, float(stamp), float(speed))
        assert wait_for(lambda: tuner.stats.steps >= 1, timeout=120)
    finally:
        tuner.close()
    return tuner, logged


def test_speed_gives_distances_and_a_metric_start(drive, model, tmp_path):
    tuner, logged = speed_run(drive, model, tmp_path, 1.0)
    assert tuner.stats.with_speed == tuner.stats.triplets > 0
    positions = drive.poses[:, :3, 3]
    for frames, _, distances, _ in tuner._train:
        target = next(k for k in range(1, len(drive) - 1)
                      if torch.equal(frames[0], (drive.images[k].clamp(0, 1) * 255).round()
                                     .to(torch.uint8)))
        true = [float((positions[target + offset] - positions[target]).norm())
                for offset in tuner.offsets]
        assert distances.tolist() == pytest.approx(true, rel=0.02)
    assert any('rescaled by' in line for line in logged), logged
    assert tuner.model.config.metric_scale == 'velocity'
    factor = tuner.model.config.provenance['speed_scale_factor']
    assert tuner.model.config.max_depth == pytest.approx(100.0 * factor)
    # twice the speed: twice the scale (the same untrained predictions, twice the distances)
    doubled, _ = speed_run(drive, model, tmp_path, 2.0)
    assert doubled.model.config.provenance['speed_scale_factor'] == pytest.approx(2 * factor)


def train_on(tuner, drive, steps):
    """Give ``tuner`` every frame of ``drive``, wait for ``steps`` training steps, close it."""
    try:
        for image in drive.images:
            tuner.add_frame(image.unsqueeze(0), drive.k_norm)
        assert wait_for(lambda: tuner.stats.steps >= steps, timeout=120)
    finally:
        tuner.close()
    return tuner


def test_without_speed_the_scale_is_left_alone(drive, model, tmp_path):
    tuner = train_on(finetuner(model, tmp_path, [], validate_every=1000), drive, steps=1)
    assert tuner.stats.with_speed == 0
    assert tuner.model.config.metric_scale == 'none'
    assert tuner.model.config.max_depth == 100.0


def test_invalid_settings_are_named():
    with pytest.raises(ValueError, match='checkpoint_dir'):
        OnlineConfig()
    with pytest.raises(ValueError, match='step_rate, learning_rate'):
        OnlineConfig(checkpoint_dir='x', step_rate=0, learning_rate=2.0)
