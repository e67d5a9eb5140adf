"""The training loop: learning, resume, the NaN guard, flips, and a DDP step on 2 processes."""

import hashlib
import json
import os
from pathlib import Path
import socket

from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.nets import DeFeatNet, load_model, ModelConfig
from defeat_ros.trainer.config import TrainConfig
from defeat_ros.trainer.flip import MIRROR, unflip_outputs
from defeat_ros.trainer.trainer import NonFiniteLoss, Trainer
import pytest
import torch
import torch.multiprocessing as mp
from torch.utils.data import Dataset

SEQUENCE = render_sequence(WorldConfig(width=96, height=64, frames=8, seed=2))


class Triplets(Dataset):
    """Frame triplets of a rendered drive, flipped on odd items, poisoned on request."""

    def __init__(self, poison=False):
        self.poison = poison

    def __len__(self):
        return len(SEQUENCE) - 2

    def __getitem__(self, i):
        target = SEQUENCE.images[i + 1]
        sources = torch.stack([SEQUENCE.images[i], SEQUENCE.images[i + 2]])
        flip = i % 2 == 1
        if self.poison:
            target = torch.full_like(target, float('nan'))
        return {'target': target, 'sources': sources,
                'target_aug': target.flip(-1) if flip else target,
                'sources_aug': sources.flip(-1) if flip else sources,
                'flip': flip, 'k_norm': SEQUENCE.k_norm}


def config(tmp_path, **overrides):
    base = {'model': {'height': 64, 'width': 96, 'feature_dims': 8},
            'loss': {'contrastive_positives': 128},
            'data': {'batch_size': 2, 'workers': 0}, 'epochs': 2, 'log_every': 1,
            'image_every': 2, 'out': str(tmp_path / 'run')}
    base.update(overrides)
    return TrainConfig.from_dict(base)


def test_training_lowers_the_loss_and_writes_a_loadable_checkpoint(tmp_path):
    lines = []
    result = Trainer(config(tmp_path, epochs=3), Triplets(), log=lines.append).train()
    losses = [json.loads(line)['total'] for line in
              (tmp_path / 'run' / 'logs' / 'scalars.jsonl').read_text().splitlines()
              if '"total"' in line]
    assert len(losses) == 9
    assert sum(losses[-3:]) < sum(losses[:3])
    model = load_model(result)
    assert model.config.provenance['step'] == 9
    assert model.config.provenance['train_config']['epochs'] == 3
    assert any('img/s' in line and 'ETA' in line for line in lines)


def test_resume_continues_where_the_run_stopped(tmp_path):
    Trainer(config(tmp_path, epochs=1), Triplets(), log=lambda *_: None).train()
    lines = []
    trainer = Trainer(config(tmp_path, epochs=2), Triplets(), log=lines.append)
    assert (trainer.step, trainer.epoch) == (3, 1)
    assert any('resumed' in line for line in lines)
    trainer.train()
    assert trainer.step == 6
    fresh = Trainer(config(tmp_path, epochs=2, resume=False), Triplets(), log=lambda *_: None)
    assert fresh.step == 0
    with pytest.raises(ValueError, match='another configuration'):
        Trainer(config(tmp_path, model={'height': 64, 'width': 96, 'feature_dims': 4}),
                Triplets())


def test_nan_guard_skips_steps_then_stops(tmp_path):
    lines = []
    trainer = Trainer(config(tmp_path, nan_patience=2), Triplets(poison=True), log=lines.append)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    with pytest.raises(NonFiniteLoss, match='2 non-finite steps'):
        trainer.train()
    assert sum('skipped' in line for line in lines) == 2
    after = list(trainer.model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, after))


def test_unflip_restores_maps_and_mirrors_poses():
    net = DeFeatNet(ModelConfig(feature_dims=4, height=64, width=96))
    image = SEQUENCE.images[:1]
    with torch.no_grad():
        outputs = net.forward_train(image.flip(-1), [SEQUENCE.images[1:2].flip(-1)], [1])
        direct = net.forward_train(image, [SEQUENCE.images[1:2]], [1])
    pose = outputs.poses[0].clone()
    restored = unflip_outputs(outputs, torch.tensor([True]))
    assert torch.equal(restored.disparities[0], outputs.disparities[0])
    assert restored.disparities[0].shape == direct.disparities[0].shape
    assert torch.allclose(restored.poses[0], MIRROR @ pose @ MIRROR)
    kept = unflip_outputs(net.forward_train(image, [image], [1]), torch.tensor([False]))
    assert kept.poses[0].shape == (1, 4, 4)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def ddp_worker(rank, out, port):
    os.environ.update({'RANK': str(rank), 'LOCAL_RANK': str(rank), 'WORLD_SIZE': '2',
                       'MASTER_ADDR': '127.0.0.1', 'MASTER_PORT': str(port)})
    torch.set_num_threads(1)
    trainer = Trainer(config(out, max_steps=1, epochs=1, data={'batch_size': 1, 'workers': 0}),
                      Triplets(), log=lambda *_: None)
    trainer.train()
    digest = hashlib.sha256()
    for p in trainer.model.parameters():
        digest.update(p.detach().numpy().tobytes())
    (out / f'rank{rank}.txt').write_text(digest.hexdigest())
    torch.distributed.destroy_process_group()


def test_one_ddp_step_on_two_cpu_processes_keeps_replicas_identical(tmp_path):
    mp.spawn(ddp_worker, args=(tmp_path, free_port()), nprocs=2, join=True)
    assert (tmp_path / 'rank0.txt').read_text() == (tmp_path / 'rank1.txt').read_text()
    assert (tmp_path / 'run' / 'checkpoint' / 'model.safetensors').is_file()


TRAIN_CONFIGS = sorted((Path(__file__).resolve().parents[1] / 'config' / 'train').glob('*.yaml'))


@pytest.mark.parametrize('path', TRAIN_CONFIGS, ids=lambda p: p.name)
def test_every_training_config_loads(path):
    loaded = TrainConfig.from_yaml(path)
    assert loaded.data.dataset in ('kitti', 'robotcar', 'synthetic', 'folder', 'bag')
    assert loaded.model.explainability == loaded.loss.explainability
