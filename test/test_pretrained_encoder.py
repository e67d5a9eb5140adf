"""
A torchvision ResNet state dict saved as docs/training.md says starts every encoder of a run.

There is no internet here: the documented command runs with ``weights=None`` instead of
``weights='IMAGENET1K_V1'``, so a randomly initialised torchvision ResNet-18 stands in for the
ImageNet one; the file it writes is named by ``model.pretrained_encoder`` in a TrainConfig.
"""

from pathlib import Path
import re

from defeat_ros.nets.resnet_encoder import ResnetEncoder
from defeat_ros.trainer.build import training_dataset
from defeat_ros.trainer.config import TrainConfig
from defeat_ros.trainer.trainer import Trainer
import pytest
import torch
import torchvision

DOCS = Path(__file__).resolve().parents[1] / 'docs' / 'training.md'


def documented_command():
    """Return the Python code of the documented ``python -c "..."`` that writes the file."""
    found = re.findall(r'^python -c "(import torch, torchvision; torch\.save\(.*\))"$',
                       DOCS.read_text(), re.MULTILINE)
    assert len(found) == 1
    return found[0]


def renamed(key):
    """Return the ResnetEncoder key of a torchvision ResNet key (conv1 -> stem.0, layer1 ...)."""
    key = re.sub(r'^conv1\.', 'stem.0.', key)
    key = re.sub(r'^bn1\.', 'stem.1.', key)
    return re.sub(r'^layer(\d)\.', lambda m: f'layers.{int(m.group(1)) - 1}.', key)


def config(tmp_path, **model):
    return TrainConfig.from_dict({
        'model': {'height': 64, 'width': 96, 'feature_dims': 8, **model},
        'data': {'dataset': 'synthetic', 'source': {'frames': 3}, 'batch_size': 1,
                 'workers': 0},
        'out': str(tmp_path / 'run')})


def test_the_documented_file_initialises_all_three_encoders(tmp_path, monkeypatch):
    code = documented_command()
    assert "resnet18(weights='IMAGENET1K_V1')" in code
    monkeypatch.chdir(tmp_path)
    exec(code.replace("weights='IMAGENET1K_V1'", 'weights=None'), {})
    path = tmp_path / 'resnet18_imagenet.pth'
    saved = torch.load(path, weights_only=True)
    assert sorted(saved) == sorted(torchvision.models.resnet18().state_dict())
    cfg = config(tmp_path, pretrained_encoder=str(path))
    model = Trainer(cfg, training_dataset(cfg), log=lambda *_: None).model
    expected = {renamed(k): v for k, v in saved.items() if not k.startswith('fc.')}
    for encoder in (model.depth_net.encoder, model.feat_net.encoder):
        state = encoder.state_dict()
        assert sorted(state) == sorted(expected)
        assert all(torch.equal(state[k], v) for k, v in expected.items())
    pose = model.pose_net.encoder.state_dict()  # two stacked frames share conv1
    assert torch.allclose(pose['stem.0.weight'], expected['stem.0.weight'].repeat(1, 2, 1, 1) / 2)
    assert all(torch.equal(pose[k], v) for k, v in expected.items() if k != 'stem.0.weight')


def test_the_file_must_fit_every_encoder(tmp_path):
    path = tmp_path / 'resnet18_imagenet.pth'
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match='need encoder width 64'):
        cfg = config(tmp_path, pretrained_encoder=str(path), encoder_width=16)
        Trainer(cfg, training_dataset(cfg), log=lambda *_: None)
    with pytest.raises(ValueError, match='not a ResNet34 checkpoint'):
        cfg = config(tmp_path, pretrained_encoder=str(path), pose_layers=34)
        Trainer(cfg, training_dataset(cfg), log=lambda *_: None)


@pytest.mark.parametrize('layers', [18, 50])
def test_the_encoder_computes_what_torchvision_resnet_computes(tmp_path, layers):
    """The package's own residual blocks, loaded with torchvision weights, give its maps."""
    torch.manual_seed(layers)
    reference = getattr(torchvision.models, f'resnet{layers}')(weights=None).eval()
    for module in reference.modules():  # non-trivial batch-norm statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    path = tmp_path / 'resnet.pth'
    torch.save(reference.state_dict(), path)
    encoder = ResnetEncoder(layers, 1, str(path)).eval()
    image = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        maps = encoder(image)
        x = (image - encoder.mean) / encoder.std
        x = reference.relu(reference.bn1(reference.conv1(x)))
        expected = [x]
        x = reference.maxpool(x)
        for stage in (reference.layer1, reference.layer2, reference.layer3, reference.layer4):
            x = stage(x)
            expected.append(x)
    for got, want in zip(maps, expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
