"""Fine-tuning with the speed or the camera height, offline and online, makes a model metric."""

from dataclasses import replace

from defeat_ros.apps.cli import main
from defeat_ros.data.sequence_bag import write_bag
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.data.wheel_speed import WheelOdometryConfig
from defeat_ros.nets import load_model, save_model
from defeat_ros.nets.model_dir import read_config
from defeat_ros.nets.rescale import rescale_model
from defeat_ros.ros.depth_node import resolve_model
from defeat_ros.ros.graph import wait_for
from defeat_ros.trainer.config import TrainConfig
from defeat_ros.trainer.online import OnlineConfig, OnlineFinetuner
from defeat_ros.trainer.trainer import scale_source
import pytest
import torch

STEPS = 10


@pytest.fixture(scope='module')
def drive():
    """Render a 6 s street drive at the default model's resolution."""
    return render_sequence(WorldConfig(width=192, height=64, frames=60, seed=5), workers=2)


ARBITRARY_UNIT = 1 / 7
"""The source model's depth and translation in this unit of metres: not metric."""


@pytest.fixture(scope='module')
def source(tmp_path_factory):
    """Save the default model rescaled to an arbitrary unit, recorded as not metric."""
    model = rescale_model(load_model(resolve_model('')), ARBITRARY_UNIT)
    model.config = replace(model.config, metric_scale='none')
    return save_model(model, tmp_path_factory.mktemp('source') / 'model')


def finetune(tmp_path, source, bag, name, *options):
    """
    Fine-tune ``source`` on ``bag`` for a few steps; return the model directory.

    Without replay: the bag's speed (or ``options``) is the only thing that sets the unit.
    """
    out = tmp_path / name
    assert main(['finetune', '--bag', str(bag), '--from', str(source), '--out',
                 str(out), '--steps', str(STEPS), '--batch-size', '2', '--replay', '0',
                 *options]) == 0
    return out


@pytest.fixture(scope='module')
def models(drive, source, tmp_path_factory):
    """Fine-tuned on the drive with its true speed and with twice its speed."""
    tmp_path = tmp_path_factory.mktemp('metric')
    made = {}
    for name, wheel in (('true', WheelOdometryConfig(scale_error=0.0)),
                        ('double', WheelOdometryConfig(scale_error=1.0))):
        bag = write_bag(drive, tmp_path / f'{name}_bag', wheel_config=wheel)
        made[name] = finetune(tmp_path, source, bag, name)
    return made


def median_depth(model_dir, drive):
    """Median predicted depth over the drive's frames (metres)."""
    model = load_model(model_dir).eval()
    with torch.no_grad():
        return model.depth_net.depth(drive.images[::10].float()).median().item()


def metric_scale(model_dir):
    """Return the ``metric_scale`` of a model directory."""
    return read_config(model_dir).metric_scale


def test_speed_twice_as_high_gives_depth_twice_as_far(models, drive):
    ratio = median_depth(models['double'], drive) / median_depth(models['true'], drive)
    assert 1.8 < ratio < 2.2


def median_truth(drive):
    """Median true depth over the frames median_depth measures (metres, sky left out)."""
    truth = drive.depths[::10]
    return truth[torch.isfinite(truth) & (truth < 80)].median().item()


def test_speed_makes_the_depth_metric(models, source, drive):
    """The true speed brings the median depth near the truth's; the source model is far off."""
    truth = median_truth(drive)
    assert 0.7 < median_depth(models['true'], drive) / truth < 1.5
    assert median_depth(source, drive) / truth < 0.5
    assert metric_scale(models['true']) == 'velocity'
    assert metric_scale(source) == 'none'


def test_without_speed_the_scale_stays_what_it_was():
    config = TrainConfig()
    assert scale_source(config, ['bag topic /odom'])[0] == 'velocity'
    scale, note = scale_source(config, [])
    assert scale == 'none' and 'no speed' in note
    metric = replace(config, model=replace(config.model, metric_scale='velocity'),
                     loss=replace(config.loss, velocity_weight=0.0))
    scale, note = scale_source(metric, ['bag topic /odom'])
    assert scale == 'velocity' and 'supervision off' in note


def test_without_speed_the_camera_height_makes_the_depth_metric(source, drive, tmp_path):
    """The road plane measures the unit (1/7 of metres); the model starts from it."""
    bag = write_bag(drive, tmp_path / 'bag')
    model = finetune(tmp_path, source, bag, 'height', '--speed-topic', 'none',
                     '--camera-height', '1.65')
    assert 0.7 < median_depth(model, drive) / median_truth(drive) < 1.5
    assert metric_scale(model) == 'camera_height'
    factor = read_config(model).provenance['height_scale_factor']
    assert 0.7 < factor * ARBITRARY_UNIT < 1.5, factor


def test_online_fine_tuning_without_speed_starts_metric_from_the_camera_height(source, drive,
                                                                               tmp_path):
    """The same road-plane start as ``finetune --camera-height``, swapped in at once."""
    logged, swapped = [], []
    tuner = OnlineFinetuner(source, OnlineConfig(
        checkpoint_dir=str(tmp_path / 'online'), step_rate=50.0, validate_every=1000,
        min_triplets=16, replay=0.0, camera_height=1.65), swapped.append, log=logged.append)
    try:
        for image in drive.images[:24]:
            tuner.add_frame(image.unsqueeze(0), drive.k_norm)
        assert wait_for(lambda: tuner.stats.steps >= 1, timeout=120)
    finally:
        tuner.close()
    assert tuner.stats.with_speed == 0
    assert tuner.model.config.metric_scale == 'camera_height'
    factor = tuner.model.config.provenance['height_scale_factor']
    assert 0.7 < factor * ARBITRARY_UNIT < 1.5, (factor, logged)
    # the node gets the rescaled network before any training step changed it
    assert [path.name for path in swapped] == ['step_000000'] and tuner.stats.swaps == 1
    assert 0.7 < median_depth(swapped[0], drive) / median_truth(drive) < 1.5
    assert metric_scale(swapped[0]) == 'camera_height'
