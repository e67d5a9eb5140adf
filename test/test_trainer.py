"""The training loop: learning, resume, the NaN guard, flips, and a DDP step on 2 processes."""

from dataclasses import replace
import hashlib
import json
import os
from pathlib import Path
import runpy
import socket

from defeat_ros.data.datasets import DATASETS
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.data.synthetic import SyntheticDataset
from defeat_ros.losses import DeFeatLoss, LossConfig
from defeat_ros.nets import load_model, ModelConfig
from defeat_ros.trainer import distributed
from defeat_ros.trainer.config import TrainConfig
from defeat_ros.trainer.flip import unflip_outputs
from defeat_ros.trainer.replay import ReplayMixture
from defeat_ros.trainer.sampler import EpochSampler
from defeat_ros.trainer.trainer import NonFiniteLoss, Trainer, training_camera_focal_y
import pytest
import torch
import torch.multiprocessing as mp
from torch.utils.data import Dataset
from untrained import untrained_model

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
                'flipped': flip, 'k_norm': SEQUENCE.k_norm}


def config(tmp_path, **overrides):
    base = {'model': {'height': 64, 'width': 96, 'feature_dims': 8, 'encoder_width': 16},
            'loss': {'contrastive_positives': 128},
            'data': {'batch_size': 2, 'workers': 0}, 'epochs': 2, 'log_every': 1,
            'image_every': 2, 'out': str(tmp_path / 'run')}
    base.update(overrides)
    return TrainConfig.from_dict(base)


def test_training_lowers_the_loss_and_writes_a_loadable_checkpoint(tmp_path):
    lines = []
    result = Trainer(config(tmp_path, epochs=3), Triplets(), log=lines.append).train()
    losses = logged_losses(tmp_path / 'run')
    assert len(losses) == 9
    assert sum(losses[-3:]) < sum(losses[:3])
    model = load_model(result)
    assert model.config.provenance['step'] == 9
    assert model.config.provenance['train_config']['epochs'] == 3
    assert any('img/s' in line and 'ETA' in line for line in lines)


def test_a_trained_model_records_the_vertical_focal_length_of_its_one_camera(tmp_path):
    sample = {'height': 64, 'width': 96}
    street = SyntheticDataset.from_sequences([SEQUENCE], sample)
    model = load_model(Trainer(config(tmp_path, max_steps=1), street).train())
    assert model.config.camera_focal_y == pytest.approx(float(SEQUENCE.k_norm[1, 1]))
    narrower = replace(SEQUENCE, k_norm=SEQUENCE.k_norm * torch.tensor([[1.0], [1.1], [1.0]]))
    assert training_camera_focal_y(SyntheticDataset.from_sequences([SEQUENCE, narrower],
                                                                   sample)) == 0.0
    assert training_camera_focal_y(ReplayMixture(street, street)) == 0.0  # no frame sources


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
    with pytest.raises(ValueError, match='fewer than one batch of data.batch_size 7'):
        Trainer(config(tmp_path, resume=False, data={'batch_size': 7, 'workers': 0}),
                Triplets())
    with pytest.raises(ValueError, match='another configuration'):
        Trainer(config(tmp_path, model={'height': 64, 'width': 96, 'feature_dims': 4,
                                        'encoder_width': 16}),
                Triplets())


def logged_losses(out):
    """Return the training loss of every logged step of the run in ``out``."""
    return [json.loads(line)['total'] for line in
            (out / 'logs' / 'scalars.jsonl').read_text().splitlines() if '"total"' in line]


AMP_RUNS = [  # optim settings, the networks' dtype, the first log line, GradScaler on
    ({'amp': False, 'amp_dtype': 'fp16'}, torch.float32, 'training 9 steps on cpu fp32', False),
    ({'amp': True, 'amp_dtype': 'bf16'}, torch.bfloat16, 'training 9 steps on cpu bf16', False),
    ({'amp': True, 'amp_dtype': 'fp16'}, torch.float16, 'training 9 steps on cpu fp16', True),
]


def test_autocast_training_lowers_the_loss_like_fp32(tmp_path):
    """
    The CPU twin of CUDA AMP: the same autocast and (for fp16) GradScaler code.

    amp off ignores amp_dtype; only fp16 scales the loss. Every run starts from the same
    weights on the same batches, so the first (unscaled) loss is fp32's within rounding.
    """
    runs = []
    for index, (optim, dtype, first_line, scaled) in enumerate(AMP_RUNS):
        out = tmp_path / f'run_{index}'
        lines = []
        trainer = Trainer(config(out, epochs=3, optim=optim), Triplets(), log=lines.append)
        trainer.train()
        assert trainer.last[1].disparities[0].dtype == dtype, optim
        assert lines[0] == first_line
        assert trainer.scaler.is_enabled() is scaled, optim
        runs.append(logged_losses(out / 'run'))
    fp32 = runs[0]
    for losses in runs[1:]:
        assert losses[0] == pytest.approx(fp32[0], rel=0.02), (losses, fp32)
        drop, fp32_drop = (sum(x[:3]) - sum(x[-3:]) for x in (losses, fp32))
        assert fp32_drop > 0 and drop > 0.5 * fp32_drop, (losses, fp32)


def test_losses_and_pose_compute_in_fp32_under_autocast():
    net = untrained_model(ModelConfig(feature_dims=4, height=64, width=96, encoder_width=16))
    loss = DeFeatLoss(LossConfig(contrastive_positives=64))
    images = SEQUENCE.images[:3]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outputs = net.forward_train(images[1:2], [images[:1], images[2:]], [-1, 1])
        total, terms = loss(outputs, images[1:2], [images[:1], images[2:]],
                            SEQUENCE.k_norm[None], net.to_depth)
    assert outputs.disparities[0].dtype == torch.bfloat16
    assert outputs.poses[0].dtype == torch.float32
    assert total.dtype == torch.float32 and torch.isfinite(total)
    total.backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_epoch_order_is_drawn_from_seed_and_epoch_and_resumes_mid_epoch():
    sampler = EpochSampler(10, seed=5)
    sampler.set_epoch(1)
    epoch_1 = list(sampler)
    assert sorted(epoch_1) == list(range(10))
    sampler.set_epoch(0)
    assert list(sampler) != epoch_1
    sampler.set_epoch(1, skip=4)
    assert list(sampler) == epoch_1[4:] and len(sampler) == 6
    shards = []
    for rank in (0, 1, 2):
        shard = EpochSampler(10, seed=5, rank=rank, world=3)
        shard.set_epoch(1)
        shards.append(list(shard))
    assert [len(shard) for shard in shards] == [4, 4, 4]
    assert set().union(*shards) == set(range(10))
    weighted = EpochSampler(10, seed=5, weights=[0.0] * 9 + [1.0])
    assert list(weighted) == [9] * 10
    with pytest.raises(ValueError, match='single training process'):
        EpochSampler(10, seed=5, world=2, weights=[1.0] * 10)


def test_a_run_resumed_mid_epoch_ends_as_the_uninterrupted_run(tmp_path):
    whole = Trainer(config(tmp_path / 'whole'), Triplets(), log=lambda *_: None)
    whole.train()
    Trainer(config(tmp_path / 'parts', max_steps=4), Triplets(), log=lambda *_: None).train()
    resumed = Trainer(config(tmp_path / 'parts'), Triplets(), log=lambda *_: None)
    assert (resumed.step, resumed.epoch) == (4, 1)
    resumed.train()
    assert resumed.step == whole.step == 6
    assert logged_losses(tmp_path / 'parts' / 'run') == logged_losses(tmp_path / 'whole' / 'run')
    expected = whole.model.state_dict()
    assert all(torch.equal(value, expected[key])
               for key, value in resumed.model.state_dict().items())


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
    net = untrained_model(ModelConfig(feature_dims=4, height=64, width=96))
    image = SEQUENCE.images[:1]
    with torch.no_grad():
        outputs = net.forward_train(image.flip(-1), [SEQUENCE.images[1:2].flip(-1)], [1])
    disparity = outputs.disparities[0].clone()
    pose = outputs.poses[0].clone()
    restored = unflip_outputs(outputs, torch.tensor([True]))
    assert torch.equal(restored.disparities[0], disparity.flip(-1))
    mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0, 1.0]))
    assert torch.allclose(restored.poses[0], mirror @ pose @ mirror)
    with torch.no_grad():
        kept = net.forward_train(image, [image], [1])
    pose = kept.poses[0].clone()
    assert torch.equal(unflip_outputs(kept, torch.tensor([False])).poses[0], pose)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def ddp_worker(rank, out, port):
    os.environ.update({'RANK': str(rank), 'LOCAL_RANK': str(rank), 'WORLD_SIZE': '2',
                       'MASTER_ADDR': '127.0.0.1', 'MASTER_PORT': str(port),
                       'CUDA_VISIBLE_DEVICES': ''})  # CPU processes on a GPU machine too
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


def test_more_processes_than_gpus_is_refused_with_what_to_start(monkeypatch):
    monkeypatch.setenv('LOCAL_RANK', '1')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    with pytest.raises(RuntimeError, match=r'process 1 of this node has no GPU: 1 visible.*'
                                           r'--nproc_per_node=1.*CUDA_VISIBLE_DEVICES='):
        distributed.setup()


TRAIN_CONFIGS = sorted((Path(__file__).resolve().parents[1] / 'config' / 'train').glob('*.yaml'))


@pytest.mark.parametrize('path', TRAIN_CONFIGS, ids=lambda p: p.name)
def test_every_training_config_loads(path):
    loaded = TrainConfig.from_yaml(path)
    assert loaded.data.dataset in DATASETS
    DATASETS[loaded.data.dataset].Config.from_dict(loaded.data.source)  # fields exist
    assert loaded.model.explainability == loaded.loss.explainability


def test_train_script_runs_the_quick_synthetic_config(tmp_path, capsys):
    script = runpy.run_path(str(Path(__file__).resolve().parents[1] / 'training' / 'train.py'))
    code = script['main'](['--config', str(TRAIN_CONFIGS[0].parent / 'synthetic_quick.yaml'),
                           '--set', f'out={tmp_path / "quick"}', '--set', 'max_steps=2',
                           '--set', 'model.height=64', '--set', 'model.width=96',
                           '--set', 'model.encoder_width=16',
                           '--set', 'data.source.frames=6', '--set', 'data.source.seeds=[0]',
                           '--set', 'data.batch_size=2'])
    assert code == 0
    assert load_model(tmp_path / 'quick' / 'checkpoint').config.provenance['step'] == 2
    assert script['main'](['--config', str(TRAIN_CONFIGS[0]), '--set', 'nonsense']) == 2
    assert 'key=value' in capsys.readouterr().err


def test_one_command_trains_on_kitti_raw_with_the_kitti_config_then_evaluates(tmp_path):
    """
    config/train/kitti_defeat.yaml as a user runs it, on a drive in KITTI raw's own layout.

    Then training/evaluate.py scores the trained model on an unseen synthetic drive.

    Only the data location and the size of the run are overridden (the paper's 640 x 192,
    batch 12 and 20 epochs are for a GPU).
    """
    from defeat_ros.data.kitti_writer import write_kitti_raw
    drive = render_sequence(WorldConfig(width=192, height=64, frames=6, seed=3), workers=2)
    root = tmp_path / 'kitti_raw'
    write_kitti_raw(drive, root, image_format='jpg')
    split = tmp_path / 'train_files.txt'
    split.write_text(''.join(f'2011_09_26/2011_09_26_drive_0001_sync {frame} l\n'
                             for frame in range(1, 5)))
    script = runpy.run_path(str(Path(__file__).resolve().parents[1] / 'training' / 'train.py'))
    out = tmp_path / 'kitti_run'
    code = script['main'](['--config', str(TRAIN_CONFIGS[0].parent / 'kitti_defeat.yaml'),
                           '--set', f'data.source.root={root}',
                           '--set', f'data.source.split={split}', '--set', f'out={out}',
                           '--set', 'model.height=64', '--set', 'model.width=192',
                           '--set', 'model.encoder_width=16', '--set', 'data.batch_size=2',
                           '--set', 'data.workers=0', '--set', 'max_steps=2'])
    assert code == 0
    model = load_model(out / 'checkpoint')
    recorded = model.config.provenance['train_config']
    assert model.config.provenance['step'] == 2
    assert recorded['data']['dataset'] == 'kitti' and recorded['optim']['step_size'] == 15
    assert model.config.feature_dims == 32 and model.config.max_depth == 100.0
    evaluate = runpy.run_path(str(Path(__file__).resolve().parents[1] / 'training'
                                  / 'evaluate.py'))
    report = tmp_path / 'evaluation'
    assert evaluate['main']([str(out / 'checkpoint'), '--out', str(report), '--frames', '6',
                             '--conditions', 'day', '--no-crop']) == 0
    day = json.loads((report / 'results.json').read_text())['conditions']['day']
    assert 0 < day['depth']['abs_rel'] < 5 and 0 <= day['depth']['a1'] <= 1
    assert day['pose']['snippet']['snippets'] == 2 and day['pose']['snippet']['ate_mean'] > 0
    assert 0.5 <= day['features']['global_auc'] <= 1


def test_validation_logs_the_held_out_loss_and_depth_accuracy(tmp_path):
    from defeat_ros.trainer.build import training_dataset, validation_dataset
    cfg = config(tmp_path, epochs=10, max_steps=4, validate_every=2, validation_samples=3,
                 data={'dataset': 'synthetic', 'batch_size': 2, 'workers': 0,
                       'source': {'seeds': [0], 'frames': 6}},
                 validation={'seeds': [9]})
    held_out = validation_dataset(cfg)
    assert held_out is not None and held_out.config.augment.enabled is False
    lines = []
    Trainer(cfg, training_dataset(cfg), log=lines.append, validation=held_out).train()
    records = [json.loads(line) for line in
               (tmp_path / 'run' / 'logs' / 'scalars.jsonl').read_text().splitlines()]
    validations = [r for r in records if 'val/loss' in r]
    assert [r['step'] for r in validations] == [2, 4]
    for record in validations:
        assert record['val/loss'] > 0 and 0 < record['val/abs_rel'] < 5
        assert 0 <= record['val/a1'] <= 1
    assert any('validation loss' in line for line in lines)
    assert validation_dataset(config(tmp_path)) is None
    plain = replace(cfg, out=str(tmp_path / 'plain'))  # the same run without validation
    Trainer(plain, training_dataset(plain), log=lambda *_: None).train()
    validated, unvalidated = (load_model(tmp_path / run / 'checkpoint').state_dict()
                              for run in ('run', 'plain'))
    assert all(torch.equal(validated[k], unvalidated[k]) for k in validated)  # no side effects
