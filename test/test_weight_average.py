"""The weight average (optim.ema_decay): the exact average, in the run's result, resumed."""

from defeat_ros.nets import load_model
from defeat_ros.trainer.checkpoint import STATE_FILE
from defeat_ros.trainer.config import OptimConfig
from defeat_ros.trainer.trainer import Trainer
from defeat_ros.trainer.weight_average import WeightAverage
import pytest
from test_trainer import config, Triplets
import torch
from torch import nn

EMA = {'amp': False, 'ema_decay': 0.5, 'ema_start': 3}


def test_the_average_starts_as_a_copy_then_moves_by_one_minus_decay_per_step():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    average = WeightAverage(model, decay=0.75, start=2)
    average.update(1)
    assert average.result is model and average.steps == 0
    for step, value in enumerate([4.0, 8.0, 0.0], start=2):
        with torch.no_grad():
            model[0].weight.fill_(value)
            model[1].running_mean.fill_(value)
        average.update(step)
    expected = (4.0 * 0.75 + 8.0 * 0.25) * 0.75 + 0.0 * 0.25
    assert average.steps == 3 and average.result is not model
    assert torch.allclose(average.result[0].weight, torch.full((2, 2), expected))
    assert torch.allclose(average.result[1].running_mean, torch.full((2,), expected))
    assert torch.equal(model[0].weight, torch.zeros(2, 2))


def test_a_decay_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match='ema_decay must be in'):
        OptimConfig(ema_decay=1.0)
    with pytest.raises(ValueError, match='ema_decay must be in'):
        OptimConfig(ema_decay=-0.1)


class Recording(Trainer):
    """A Trainer that keeps the trained weights after every step."""

    def train_step(self, batch):
        terms = super().train_step(batch)
        self.snapshots = getattr(self, 'snapshots', []) + [
            {k: v.detach().clone() for k, v in self.model.state_dict().items()}]
        return terms


def test_the_run_publishes_the_average_and_trains_as_without_it(tmp_path):
    plain = Recording(config(tmp_path / 'plain', optim={'amp': False}), Triplets(),
                      log=lambda *_: None)
    plain.train()
    lines = []
    averaged = Recording(config(tmp_path / 'averaged', optim=EMA), Triplets(), log=lines.append)
    result = load_model(averaged.train())
    assert any('averaging the weights from step 3' in line for line in lines)
    assert result.config.provenance['averaged_steps'] == 4
    for key, value in result.state_dict().items():
        trained = [snapshot[key].float() for snapshot in averaged.snapshots]
        assert torch.equal(averaged.snapshots[-1][key], plain.snapshots[-1][key])
        if value.is_floating_point():
            expected = ((trained[2] * 0.5 + trained[3] * 0.5) * 0.5 + trained[4] * 0.5) * 0.5 \
                + trained[5] * 0.5
            assert torch.allclose(value, expected, atol=1e-6), key
    state = torch.load(tmp_path / 'averaged' / 'run' / 'checkpoint' / STATE_FILE,
                       weights_only=True)
    assert state['averaged_steps'] == 4
    assert all(torch.equal(value, averaged.snapshots[-1][key])
               for key, value in state['trained_weights'].items())


def test_a_resumed_run_continues_the_average(tmp_path):
    whole = Trainer(config(tmp_path / 'whole', optim=EMA), Triplets(), log=lambda *_: None)
    whole_result = load_model(whole.train())
    Trainer(config(tmp_path / 'parts', optim=EMA, max_steps=4), Triplets(),
            log=lambda *_: None).train()
    resumed = Trainer(config(tmp_path / 'parts', optim=EMA), Triplets(), log=lambda *_: None)
    assert resumed.average.steps == 2
    resumed_result = load_model(resumed.train())
    expected = whole_result.state_dict()
    assert all(torch.equal(value, expected[key])
               for key, value in resumed_result.state_dict().items())
    trained = whole.model.state_dict()
    assert all(torch.equal(value, trained[key])
               for key, value in resumed.model.state_dict().items())
