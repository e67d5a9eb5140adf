"""Replay of the source model's training data, and the weights fine-tuning keeps."""

from dataclasses import replace

from defeat_ros.data.datasets import make_dataset
from defeat_ros.data.sample import SampleConfig
from defeat_ros.losses import LossConfig
from defeat_ros.nets import DeFeatNet, ModelConfig
from defeat_ros.trainer.config import DataConfig, TrainConfig
from defeat_ros.trainer.finetune import BestWeights, FinetuneConfig, train_config, with_replay
from defeat_ros.trainer.replay import mixture_weights, replay_dataset, ReplayMixture
from defeat_ros.trainer.trainer import Trainer
import pytest
import torch

HEIGHT, WIDTH = 32, 96
SYNTHETIC = {'seeds': [3], 'frames': 5, 'lighting': 'day'}


def recorded(dataset='synthetic', source=SYNTHETIC):
    """Return a ModelConfig whose provenance records training on ``dataset``."""
    train = TrainConfig(data=DataConfig(dataset=dataset, source=dict(source)))
    return ModelConfig(provenance={'train_config': train.to_dict()})


def test_the_recorded_training_data_is_rebuilt_at_the_fine_tuning_size():
    replayed = replay_dataset(recorded(), HEIGHT, WIDTH, [-1, 1], seed=0)
    assert len(replayed) == 3 and replayed.has_depth  # 5 frames: 3 targets with both sources
    assert replayed[0]['target'].shape == (3, HEIGHT, WIDTH)


def test_training_data_that_cannot_be_read_here_is_named():
    with pytest.raises(ValueError, match='records no training data'):
        replay_dataset(ModelConfig(), HEIGHT, WIDTH, [-1, 1], seed=0)
    with pytest.raises(ValueError, match='kitti.*cannot be read here'):
        replay_dataset(recorded('kitti', {'root': '/nonexistent/kitti'}), HEIGHT, WIDTH,
                       [-1, 1], seed=0)


def test_only_replayed_samples_carry_depth():
    """The user's samples (here: another street with depth) get unknown depth: no supervision."""
    sample = SampleConfig(height=HEIGHT, width=WIDTH, offsets=[-1, 1])
    own = make_dataset('synthetic', {**SYNTHETIC, 'seeds': [4]}, sample)
    replayed = replay_dataset(recorded(), HEIGHT, WIDTH, [-1, 1], seed=0)
    mixture = ReplayMixture(own, replayed)
    assert len(mixture) == 6 and mixture.has_depth
    assert mixture.speed_sources == sorted(set(own.speed_sources + replayed.speed_sources))
    assert torch.equal(mixture[0]['target'], own[0]['target'])
    assert not mixture[0]['depth'].any() and own[0]['depth'].any()
    assert torch.equal(mixture[3]['depth'], replayed[0]['depth'])
    assert torch.equal(mixture[3]['target'], replayed[0]['target'])


def test_replayed_depth_does_not_make_a_model_metric(tmp_path):
    """Replayed depth supervises training, but in another camera's metres: the scale stays."""
    sample = SampleConfig(height=HEIGHT, width=WIDTH, offsets=[-1, 1])
    own = make_dataset('synthetic', {**SYNTHETIC, 'seeds': [4]}, sample)
    mixture = ReplayMixture(own, replay_dataset(recorded(), HEIGHT, WIDTH, [-1, 1], seed=0))
    config = TrainConfig(model=ModelConfig(height=HEIGHT, width=WIDTH, encoder_width=16),
                         loss=LossConfig(depth_supervision_weight=1.0, velocity_weight=0.0),
                         data=DataConfig(batch_size=1, workers=0))
    for dataset, scale in ((own, 'depth_supervision'), (mixture, 'none')):
        run = replace(config, out=str(tmp_path / scale))
        assert Trainer(run, dataset, log=lambda *_: None).model.config.metric_scale == scale


def test_replay_takes_its_share_of_the_draws():
    weights = mixture_weights([1.0, 3.0], replayed=4, fraction=0.25)
    assert weights.tolist() == pytest.approx([0.1875, 0.5625] + [0.0625] * 4)


def test_fine_tuning_keeps_the_weights_of_the_best_criterion():
    model = DeFeatNet(ModelConfig(height=64, width=96, encoder_width=16, feature_dims=8))
    best = BestWeights(model)

    def shift_and_copy():
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(1.0)
        return {k: v.clone() for k, v in model.state_dict().items()}

    start = {k: v.clone() for k, v in model.state_dict().items()}
    best.offer(0, {'criterion': 0.5})
    shift_and_copy()
    best.offer(10, {'criterion': 0.6})  # worse: not kept
    lines = []
    assert best.restore(lines.append, last_step=10) == {'criterion': 0.5}
    assert all(torch.equal(v, start[k]) for k, v in model.state_dict().items())
    assert 'no step improved' in lines[0]
    kept = shift_and_copy()
    best.offer(20, {'criterion': 0.4})
    shift_and_copy()
    assert best.restore(lines.append, last_step=30) == {'criterion': 0.4}
    assert all(torch.equal(v, kept[k]) for k, v in model.state_dict().items())
    assert best.step == 20 and 'step 20 of 30' in lines[1]


def test_the_camera_height_loss_and_the_replayed_depth_supervision_combine(tmp_path):
    """--camera-height adds its loss to the recorded objective; replay keeps it."""
    source = TrainConfig(data=DataConfig(dataset='synthetic', source=dict(SYNTHETIC)),
                         loss=LossConfig(depth_supervision_weight=0.7, velocity_weight=0.05))
    model = ModelConfig(height=HEIGHT, width=WIDTH,
                        provenance={'train_config': source.to_dict()})
    config = FinetuneConfig(bags=['drive'], source='model', out='new', camera_height=1.3,
                            camera_height_weight=0.2, replay=0.5)
    train = train_config(config, model, tmp_path)
    assert (train.loss.camera_height, train.loss.camera_height_weight) == (1.3, 0.2)
    assert train.loss.depth_supervision_weight == 0.0  # never on the user's samples
    replayed, with_data = with_replay(config, model, train, log=lambda _: None)
    assert len(replayed) == 3
    assert with_data.loss == replace(train.loss, depth_supervision_weight=0.7)
    off = train_config(replace(config, camera_height=0.0), model, tmp_path)
    assert off.loss.camera_height_weight == 0.0 and off.loss.velocity_weight == 0.05
