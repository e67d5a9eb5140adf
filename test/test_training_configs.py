"""
Every shipped training config trains under torchrun on 2 gloo CPU ranks, on its data layout.

The CPU twin of multi-GPU training: the same DistributedDataParallel, the same autocast (bf16
here, where CUDA runs fp16), the same all-reduced skip of non-finite steps. Each config runs
as a user runs it, through ``torchrun training/train.py``; only the data location and the run's
size are overridden.
"""

from dataclasses import replace
from pathlib import Path
import subprocess
import sys
import time

from data_layouts import write_robotcar_run
from defeat_ros.data.kitti_writer import write_kitti_raw
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.nets import DeFeatNet, load_model, save_model
from defeat_ros.trainer.config import TrainConfig
import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / 'config' / 'train').glob('*.yaml'))
SMALL = ['model.height=64', 'model.width=192', 'model.encoder_width=16', 'data.batch_size=1',
         'data.workers=0', 'max_steps=3', 'log_every=1', 'loss.contrastive_positives=64']
"""A run of 3 steps on narrow networks at 192 x 64."""


def torchrun(*arguments, timeout=300):
    """Run ``python -m torch.distributed.run --standalone --nproc_per_node=2 ARGUMENTS`` (CPUs)."""
    return subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
         *map(str, arguments)],
        capture_output=True, text=True, timeout=timeout, cwd=REPO,
        env={'PATH': '/usr/bin:/bin', 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(REPO / 'test'),
             'CUDA_VISIBLE_DEVICES': ''})  # gloo processes on a GPU machine too


@pytest.fixture(scope='module')
def layouts(tmp_path_factory):
    """Write one drive in every data layout the configs read; return their overrides."""
    root = tmp_path_factory.mktemp('layouts')
    drive = render_sequence(WorldConfig(width=192, height=64, frames=6, seed=3), workers=2)
    write_kitti_raw(drive, root / 'kitti_raw', image_format='jpg')
    split = root / 'train_files.txt'
    split.write_text(''.join(f'2011_09_26/2011_09_26_drive_0001_sync {frame} l\n'
                             for frame in range(1, 5)))
    folder, models = write_robotcar_run(drive, root / 'robotcar',
                                        1418132462000000 + np.arange(6) * 62500)
    return {'kitti': [f'data.source.root={root / "kitti_raw"}', f'data.source.split={split}'],
            'robotcar': [f'data.source.folders=[{folder}]', f'data.source.models_dir={models}',
                         'data.source.crop=[0,0,0,0]'],  # no bonnet in 64-row frames
            'synthetic': ['data.source.frames=6', 'data.source.seeds=[0]']}


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_every_config_trains_three_steps_on_two_ranks(path, layouts, tmp_path):
    config = TrainConfig.from_yaml(path)
    overrides = SMALL + layouts[config.data.dataset] + [f'out={tmp_path / "run"}']
    if config.validation:
        overrides.append('validation.frames=4')
    if config.init_from:  # a later stage: start from a first stage's output at the run's size
        first_stage = replace(config.model, height=64, width=192, encoder_width=16)
        overrides.append(f'init_from={save_model(DeFeatNet(first_stage), tmp_path / "init")}')
    result = torchrun(REPO / 'training' / 'train.py', '--config', path,
                      *(f'--set={item}' for item in overrides))
    assert result.returncode == 0, result.stderr[-3000:]
    precision = 'bf16' if config.optim.amp else 'fp32'
    assert f'training 3 steps on cpu {precision}, 2 processes' in result.stdout
    assert result.stdout.count('model written to') == 1  # rank 0 alone reports and writes
    model = load_model(tmp_path / 'run' / 'checkpoint')
    assert model.config.provenance['step'] == 3
    assert model.config.provenance['train_config']['data']['dataset'] == config.data.dataset


def test_non_finite_loss_on_one_rank_skips_on_both_then_stops(tmp_path):
    """Rank 1 alone sees NaN images: both ranks skip the same steps, then both stop."""
    start = time.monotonic()
    result = torchrun(Path(__file__).with_name('ddp_poisoned_rank.py'), tmp_path, timeout=240)
    assert time.monotonic() - start < 120  # no rank waited for the collective's timeout
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [yaml.safe_load((tmp_path / f'rank{rank}.yaml').read_text()) for rank in (0, 1)]
    for report in reports:
        assert report['stopped'] == '2 non-finite steps in a row at step 1: lower the ' \
                                    'learning rate or check the data'
        assert report['parameters_changed'] is False
    assert reports[0]['log'] == ['step 0: skipped (non-finite loss in 1 of 2 processes); '
                                 '1 in a row',
                                 'step 1: skipped (non-finite loss in 1 of 2 processes); '
                                 '2 in a row']
    assert reports[0]['digest'] == reports[1]['digest']


def test_the_first_run_is_small_and_validates():
    """docs/training.md promises about 10 minutes on 2 CPU cores with validation: keep it so."""
    config = TrainConfig.from_yaml(REPO / 'config' / 'train' / 'synthetic_quick.yaml')
    assert config.max_steps <= 600 and config.data.batch_size <= 4
    assert (config.model.height, config.model.width, config.model.encoder_width) == (64, 192, 16)
    assert config.validation and config.validate_every <= config.max_steps
    assert config.data.source['seeds'] and not set(config.validation.get('seeds', [])) & set(
        config.data.source['seeds'])  # held out: streets it never trains on
    docs = (REPO / 'docs' / 'training.md').read_text()
    assert 'config/train/synthetic_quick.yaml' in docs and 'about 10 minutes' in docs
