#!/usr/bin/env python3
"""
Train from scratch on the synthetic street for a fixed budget; depth accuracy before and after.

For DeFeat-Net, its no-feature ablation and the seed variants (same seed, same data, same
steps: the recipe of the shipped model, config/train/default_model.yaml, with each variant's
loss and model settings from config/train/variant_<name>.yaml: SfMLearner's explainability,
the bidirectional loss, TripleDNet's Charbonnier error and pretext distillation, segmentation
guidance, the fast CPU architecture; and DeFeat from a contrastively pretrained encoder,
``--pretrained-encoder``) it prints AbsRel and delta < 1.25 of median-scaled depth against
exact depth on unseen day and night drives, before and after training, and after training the
features' ROC-AUC against exact correspondences (global and local negatives) and the 5-frame
snippet ATE of the pose network. Every variant starts from a depth of
``--initial-depth`` metres (10 by default; 0 is the shipped recipe's own initialisation, from
which the ablation collapses to max_depth). On a
CUDA GPU it also measures training images/s at 640x192 (ResNet-18 encoders), batch 12, with AMP
versus fp32. Not a test: on one CPU thread DeFeat takes about 22 minutes, the ablation 6.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_synthetic.py --steps 900
"""

import argparse
from pathlib import Path
import platform
import tempfile
import time

from defeat_ros.apps.benchmark import ARCHITECTURES
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.evaluation.protocol import EvaluationConfig
from defeat_ros.evaluation.synthetic import evaluate_sequence
from defeat_ros.nets import DeFeatNet, load_model
from defeat_ros.trainer.build import training_dataset
from defeat_ros.trainer.config import TrainConfig
from defeat_ros.trainer.trainer import Trainer
import torch
import yaml

NO_FEATURES = {'feature_warp_weight': 0.0, 'contrastive_weight': 0.0}
REFERENCE_POSE = {'translation_scaling': 'mean_inverse_depth', 'pose_scale': 0.01,
                  'initial_depth': 0.0}
"""The reference code's pose convention with its own initialisation (Monodepth2's)."""
VARIANTS = {
    'defeat': ({'feature_balance': 'reference'}, {}),
    'defeat_per_scale': ({'feature_balance': 'per_scale'}, {}),
    'defeat_inverse_depth': ({'feature_balance': 'reference'}, REFERENCE_POSE),
    'defeat_per_scale_inverse_depth': ({'feature_balance': 'per_scale'}, REFERENCE_POSE),
    'no_features': (NO_FEATURES, {}),
    'depth_supervised': ({'feature_balance': 'reference', 'depth_supervision_weight': 1.0}, {}),
    **{name: ({'feature_balance': 'reference'}, options)
       for name, options in ARCHITECTURES.items() if name not in ('defeat', 'fast')},
}
"""
Name: (LossConfig overrides, ModelConfig overrides) of the shipped recipe; with each CPU
architecture option of ``defeat-ros benchmark`` alone (together: 'fast')."""
CONFIGS = Path(__file__).resolve().parents[1] / 'config' / 'train'
RECIPE = CONFIGS / 'default_model.yaml'
VARIANT_FILES = ('sfmlearner', 'bidirectional', 'charbonnier', 'pretext', 'segmentation',
                 'fast')
"""Variants whose settings come from config/train/variant_<name>.yaml."""
RESOLUTION = ('height', 'width', 'pose_scale', 'initial_depth')
"""Model settings of a variant file that the benchmark's recipe decides instead."""
PRETRAINED = 'defeat_pretrained'
"""DeFeat with every encoder initialised from ``--pretrained-encoder``."""


def overrides(name, pretrained_encoder=''):
    """
    Return (LossConfig overrides, ModelConfig overrides) of variant ``name``.

    File variants start from DeFeat's (the reference feature balance) and take the ``loss`` and
    ``model`` sections of their file, less the resolution and start the recipe sets.
    """
    if name in VARIANTS:
        return VARIANTS[name]
    if name == PRETRAINED:
        if not pretrained_encoder:
            raise SystemExit(f'{PRETRAINED} needs --pretrained-encoder FILE '
                             '(made by defeat-ros pretrain-encoder)')
        return VARIANTS['defeat'][0], {'pretrained_encoder': pretrained_encoder}
    variant = yaml.safe_load((CONFIGS / f'variant_{name}.yaml').read_text())
    model = {key: value for key, value in variant.get('model', {}).items()
             if key not in RESOLUTION}
    return {**VARIANTS['defeat'][0], **variant.get('loss', {})}, model


def config(out, steps, loss, model=None, batch=None, amp=None):
    """
    Return the shipped model's TrainConfig with ``loss``, ``model`` and ``amp`` overrides.

    The variants compare self-supervised training: depth supervision is off unless ``loss``
    turns it on (the depth_supervised variant).
    ``amp`` None keeps the recipe's; True is bf16 on the CPU, fp16 on CUDA.
    """
    recipe = TrainConfig.from_yaml(RECIPE).to_dict()
    recipe['model'].update(model or {})
    recipe['loss'].update({'depth_supervision_weight': 0.0, **loss})
    recipe['data']['batch_size'] = batch or recipe['data']['batch_size']
    recipe['optim']['amp'] = recipe['optim']['amp'] if amp is None else amp
    recipe.update(max_steps=steps, log_every=max(steps // 5, 1), out=out)
    return TrainConfig.from_dict(recipe)


@torch.no_grad()
def accuracy(model, held_out):
    """
    {condition: (AbsRel, delta < 1.25, global AUC, local AUC, ATE-5)} on held-out drives.

    Depth median-scaled, features against exact correspondences, pose as snippet ATE: the
    synthetic evaluation of ``defeat-ros evaluate``, without the Garg crop.
    """
    result = {}
    for condition, sequence in held_out.items():
        summary = evaluate_sequence(model, sequence, EvaluationConfig(crop=False))[0]
        features = summary['features']
        result[condition] = (summary['depth']['abs_rel'], summary['depth']['a1'],
                             features.get('global_auc', float('nan')),
                             features.get('local_auc', float('nan')),
                             summary['pose']['snippet']['ate_mean'])
    model.train()
    return result


def machine():
    """Describe the machine: CPU model and its bf16 instructions, threads, torch, GPU."""
    cpu, flags = platform.machine(), set()
    with open('/proc/cpuinfo') as info:
        for line in info:
            key, _, value = line.partition(':')
            if key.strip() == 'model name':
                cpu = value.strip()
            elif key.strip() == 'flags':
                flags = set(value.split())
    bf16 = [name for name in ('avx512_bf16', 'amx_bf16') if name in flags] or ['none']
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'
    return (f'machine: {cpu} (bf16 instructions: {", ".join(bf16)}), '
            f'{torch.get_num_threads()} threads, torch {torch.__version__}, GPU {gpu}')


def gpu_throughput(steps=20):
    """Training images/s at 640x192, batch 12, with AMP and with fp32 (CUDA only)."""
    rates = {}
    with tempfile.TemporaryDirectory() as scratch:
        for amp in (True, False):
            cfg = config(f'{scratch}/{amp}', steps, {},
                         {'height': 192, 'width': 640, 'encoder_width': 64}, batch=12, amp=amp)
            trainer = Trainer(cfg, training_dataset(cfg), log=lambda *_: None)
            start = time.perf_counter()
            trainer.train()
            torch.cuda.synchronize()
            rates['amp' if amp else 'fp32'] = steps * 12 / (time.perf_counter() - start)
    return rates


def main():
    """Run the budgeted comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--steps', type=int, default=900, help='training steps per variant')
    parser.add_argument('--initial-depth', type=float, default=10.0,
                        help='depth (m) the untrained variants predict (model.initial_depth) '
                             'unless a variant sets its own; 0: PyTorch initialisation')
    parser.add_argument('--variants', nargs='+',
                        choices=sorted([*VARIANTS, *VARIANT_FILES, PRETRAINED]),
                        default=['defeat', 'no_features', *VARIANT_FILES],
                        help='variants to train, one after the other')
    parser.add_argument('--pretrained-encoder', default='',
                        help=f'encoder file of the {PRETRAINED} variant')
    parser.add_argument('--precision', choices=['recipe', 'fp32', 'bf16'], default='recipe',
                        help="the networks' precision in training (recipe: its optim.amp)")
    args = parser.parse_args()
    print(machine())
    model = TrainConfig.from_yaml(RECIPE).model
    held_out = {c: render_sequence(WorldConfig(width=model.width, height=model.height,
                                               frames=40, seed=1000, night=c == 'night'))
                for c in ('day', 'night')}
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.variants:
            loss, model_overrides = overrides(name, args.pretrained_encoder)
            cfg = config(f'{scratch}/{name}', args.steps, loss,
                         {'initial_depth': args.initial_depth, **model_overrides},
                         amp=None if args.precision == 'recipe' else args.precision == 'bf16')
            torch.manual_seed(cfg.seed)
            before = accuracy(DeFeatNet(cfg.model), held_out)
            start = time.perf_counter()
            result = Trainer(cfg, training_dataset(cfg)).train()
            seconds = time.perf_counter() - start
            after = accuracy(load_model(result), held_out)
            for condition in held_out:
                rows.append((name, condition, *before[condition][:2], *after[condition],
                             seconds))
                print(f'done: {name} {condition} AbsRel {before[condition][0]:.3f} -> '
                      f'{after[condition][0]:.3f}, a1 {before[condition][1]:.3f} -> '
                      f'{after[condition][1]:.3f}, AUC global/local '
                      f'{after[condition][2]:.3f}/{after[condition][3]:.3f}, ATE-5 '
                      f'{after[condition][4]:.4f}, {seconds:.0f} s', flush=True)
    print(f'\n{args.steps} steps, batch {cfg.data.batch_size}, {model.width}x{model.height}, '
          f'encoder width {model.encoder_width}, pose scale {model.pose_scale} and initial depth '
          f'{args.initial_depth} m unless the variant says otherwise, precision '
          f'{args.precision}, synthetic day+night; tested on 40 unseen frames each')
    print('| variant | test | AbsRel before | a1 before | AbsRel after | a1 after | '
          'global AUC | local AUC | ATE-5 | train s |')
    print('|' + ' --- |' * 10)
    for name, condition, rel0, a10, rel1, a11, global_auc, local_auc, ate, seconds in rows:
        print(f'| {name} | {condition} | {rel0:.3f} | {a10:.3f} | {rel1:.3f} | {a11:.3f} | '
              f'{global_auc:.3f} | {local_auc:.3f} | {ate:.4f} | {seconds:.0f} |')
    if torch.cuda.is_available():
        print(f'GPU training images/s at 640x192 batch 12: {gpu_throughput()}')


if __name__ == '__main__':
    main()
