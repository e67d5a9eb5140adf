"""``defeat-ros pretrain-encoder``: NT-Xent, a pretraining that learns, and the file it writes."""

import json
import math

from defeat_ros.apps.cli import main
from defeat_ros.data.synthetic import SyntheticDataset
from defeat_ros.nets import DeFeatNet, ModelConfig
from defeat_ros.nets.resnet_encoder import load_state_dict_file
from defeat_ros.trainer.encoder_pretraining import (EncoderPretraining, nt_xent, PretrainConfig,
                                                    read_metadata, StepBatches)
import pytest
import torch


def test_nt_xent_of_two_orthogonal_pairs():
    # Each embedding's partner has similarity 1, the two others 0: every one of the four
    # rows is -log(e^(1/t) / (e^(1/t) + 2)).
    first = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    second = torch.tensor([[2.0, 0.0], [0.0, 0.5]])  # lengths do not count
    loss, accuracy = nt_xent(first, second, temperature=0.5)
    assert loss.item() == pytest.approx(math.log(1 + 2 * math.exp(-2)), rel=1e-6)
    assert loss.item() == pytest.approx(0.2395447, rel=1e-6)
    assert accuracy.item() == 1.0


def test_nt_xent_of_pairs_that_are_each_others_negatives():
    # a = (1, 0), a' = (0.6, 0.8), b = b' = (0, 1); temperature 1.
    # a: partner a' 0.6, others b 0, b' 0      -> -log(e^0.6 / (e^0.6 + 2))
    # b: partner b' 1,   others a 0, a' 0.8    -> -log(e / (e + 1 + e^0.8))
    # a': partner a 0.6, others b 0.8, b' 0.8  -> -log(e^0.6 / (e^0.6 + 2 e^0.8))
    # b': as b
    a_row = -math.log(math.exp(0.6) / (math.exp(0.6) + 2))
    b_row = -math.log(math.e / (math.e + 1 + math.exp(0.8)))
    a2_row = -math.log(math.exp(0.6) / (math.exp(0.6) + 2 * math.exp(0.8)))
    expected = (a_row + a2_row + 2 * b_row) / 4
    first = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    second = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    loss, accuracy = nt_xent(first, second, temperature=1.0)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert accuracy.item() == 0.75  # a' is closer to b and b' (0.8) than to a (0.6)


def test_step_batches_never_repeat_a_frame_and_resume_where_they_stopped():
    whole = list(StepBatches(10, 4, seed=3, start=0, stop=6))
    assert all(len({index for index, _ in batch}) == 4 for batch in whole)
    assert list(StepBatches(10, 4, seed=3, start=4, stop=6)) == whole[4:]
    with pytest.raises(ValueError, match='fewer than one batch'):
        StepBatches(3, 4, seed=0, start=0, stop=1)


@pytest.fixture(scope='module')
def frames():
    """Eight synthetic street frames at 96 x 64, each of another street, one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: threads only wait for each other
    yield SyntheticDataset({'seeds': list(range(8)), 'frames': 1, 'wheel_speed': False},
                           {'height': 64, 'width': 96, 'offsets': []})
    torch.set_num_threads(threads)


def pretraining(tmp_path, frames, steps, **options):
    config = PretrainConfig(out=str(tmp_path / 'encoder.safetensors'), encoder_width=16,
                            layers=18, steps=steps, batch_size=8, seed=0, progress=False,
                            device='cpu', log_every=5, **options)
    return EncoderPretraining(config, frames, log=lambda *_: None)


def test_pretraining_lowers_the_loss_and_writes_a_loadable_encoder(tmp_path, frames):
    torch.manual_seed(0)
    run = pretraining(tmp_path, frames, 20)
    fixed = run.views(range(8), seed=5)  # the same 8 pairs of views before and after
    before, _ = run.loss_on(fixed)
    assert before == pytest.approx(run.loss_on(fixed)[0])  # measuring changes nothing
    path = run.train()
    after, _ = run.loss_on(fixed)
    assert after < before - 0.03, (before, after)  # 2.81 -> 2.75 here
    assert (tmp_path / 'encoder.run' / 'logs' / 'scalars.jsonl').is_file()

    metadata = read_metadata(path)
    assert (metadata['depth'], metadata['encoder_width'], metadata['steps']) == ('18', '16', '20')
    assert metadata['loss'] == 'NT-Xent' and metadata['temperature'] == '0.2'
    assert json.loads(metadata['data'])['dataset'] == 'synthetic'
    saved = load_state_dict_file(path)
    assert 'conv1.weight' in saved and 'layer4.1.bn2.running_var' in saved
    assert not any(key.startswith(('fc.', 'head.')) for key in saved)

    model = DeFeatNet(ModelConfig(pretrained_encoder=str(path), encoder_width=16,
                                  feature_dims=8, height=64, width=96))
    own = run.model.encoder.state_dict()
    for encoder in (model.depth_net.encoder, model.feat_net.encoder):
        state = encoder.state_dict()
        assert sorted(state) == sorted(own)
        assert all(torch.equal(state[key], value) for key, value in own.items())
    pose = model.pose_net.encoder.state_dict()  # two stacked frames share conv1
    assert torch.allclose(pose['stem.0.weight'], own['stem.0.weight'].repeat(1, 2, 1, 1) / 2)


def test_a_resumed_run_ends_where_an_unbroken_one_does(tmp_path, frames):
    unbroken = pretraining(tmp_path / 'a', frames, 6)
    unbroken.train()
    interrupted = pretraining(tmp_path / 'b', frames, 6)
    assert interrupted.train(stop=3) is None  # no encoder file before the last step
    assert not (tmp_path / 'b' / 'encoder.safetensors').exists()
    resumed = pretraining(tmp_path / 'b', frames, 6)
    assert resumed.step == 3
    resumed.train()
    expected = unbroken.model.state_dict()
    assert all(torch.allclose(value, expected[key], atol=1e-6)
               for key, value in resumed.model.state_dict().items())


def test_an_encoder_of_another_width_is_refused_naming_the_tensor(tmp_path, frames):
    path = pretraining(tmp_path, frames, 1).train()
    with pytest.raises(ValueError, match=r'tensor conv1\.weight has shape \(16, 3, 7, 7\).*'
                                         r'need encoder width 16 \(model.encoder_width\), '
                                         r'got 32'):
        DeFeatNet(ModelConfig(pretrained_encoder=str(path), encoder_width=32, feature_dims=8))
    with pytest.raises(ValueError, match='not a ResNet34 checkpoint'):
        DeFeatNet(ModelConfig(pretrained_encoder=str(path), encoder_width=16, pose_layers=34,
                              feature_dims=8))


def test_the_command_lists_its_options(capsys):
    with pytest.raises(SystemExit) as stop:
        main(['pretrain-encoder', '--help'])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for flag in ('--out', '--config', '--set', '--layers', '--encoder-width', '--steps',
                 '--batch-size', '--temperature', '--optimiser', '--learning-rate', '--seed',
                 '--run-dir', '--no-resume'):
        assert flag in text


def test_the_command_rejects_a_file_that_is_not_safetensors(capsys):
    assert main(['pretrain-encoder', '--out', 'encoder.pth']) == 2
    assert 'must end in .safetensors' in capsys.readouterr().err
