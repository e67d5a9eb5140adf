#!/usr/bin/env python3
"""
Train from scratch on the synthetic street for a fixed budget; depth accuracy before and after.

For DeFeat-Net and its no-feature ablation (same seed, same data, same steps) it prints
AbsRel and delta < 1.25 against exact depth on unseen day and night drives, before and after
training. On a CUDA GPU it also measures training images/s at 640x192, batch 12, with AMP
versus fp32. Not a test: it takes minutes.

    .venv/bin/python benchmarks/train_synthetic.py --steps 150
"""

import argparse
import platform
import tempfile
import time

from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.evaluation import DepthEvaluation
from defeat_ros.nets import DeFeatNet, load_model
from defeat_ros.trainer.build import training_dataset
from defeat_ros.trainer.config import TrainConfig
from defeat_ros.trainer.trainer import Trainer
import torch

VARIANTS = {'defeat': {}, 'no_features': {'feature_warp_weight': 0.0, 'contrastive_weight': 0.0}}


def config(out, steps, height, width, loss, batch=4, amp=True):
    """Build a synthetic day+night TrainConfig with ``loss`` overrides."""
    return TrainConfig.from_dict({
        'model': {'height': height, 'width': width, 'feature_dims': 16, 'max_depth': 80.0},
        'loss': {'contrastive_positives': 512, **loss},
        'data': {'dataset': 'synthetic', 'batch_size': batch, 'workers': 0,
                 'source': {'lighting': 'both', 'seeds': [0, 1], 'frames': 60}},
        'optim': {'learning_rate': 2e-4, 'amp': amp}, 'epochs': 1000, 'max_steps': steps,
        'log_every': max(steps // 5, 1), 'image_every': 10 ** 9,
        'checkpoint_every': 10 ** 9, 'out': out, 'resume': False})


@torch.no_grad()
def accuracy(model, held_out):
    """{condition: (AbsRel, delta < 1.25)} of median-scaled depth on held-out drives."""
    model.eval()
    result = {}
    for condition, sequence in held_out.items():
        evaluation = DepthEvaluation(crop=False)
        for image, depth in zip(sequence.images, sequence.depths):
            evaluation.add(model.depth_net.depth(image.unsqueeze(0))[0], depth)
        summary = evaluation.summary()
        result[condition] = (summary['abs_rel'], summary['a1'])
    model.train()
    return result


def gpu_throughput(steps=20):
    """Training images/s at 640x192, batch 12, with AMP and with fp32 (CUDA only)."""
    rates = {}
    with tempfile.TemporaryDirectory() as scratch:
        for amp in (True, False):
            cfg = config(f'{scratch}/{amp}', steps, 192, 640, {}, batch=12, amp=amp)
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
    parser.add_argument('--steps', type=int, default=150, help='training steps per variant')
    parser.add_argument('--height', type=int, default=96)
    parser.add_argument('--width', type=int, default=320)
    args = parser.parse_args()
    print(f'machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads, cuda {torch.cuda.is_available()}')
    held_out = {c: render_sequence(WorldConfig(width=args.width, height=args.height,
                                               frames=12, seed=1000, night=c == 'night'))
                for c in ('day', 'night')}
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, loss in VARIANTS.items():
            cfg = config(f'{scratch}/{name}', args.steps, args.height, args.width, loss)
            torch.manual_seed(cfg.seed)
            before = accuracy(DeFeatNet(cfg.model), held_out)
            start = time.perf_counter()
            result = Trainer(cfg, training_dataset(cfg)).train()
            seconds = time.perf_counter() - start
            after = accuracy(load_model(result), held_out)
            for condition in held_out:
                rows.append((name, condition, *before[condition], *after[condition], seconds))
    print(f'\n{args.steps} steps, batch 4, {args.width}x{args.height}, synthetic day+night')
    print('| variant | test | AbsRel before | a1 before | AbsRel after | a1 after | train s |')
    print('| --- | --- | --- | --- | --- | --- | --- |')
    for name, condition, rel0, a10, rel1, a11, seconds in rows:
        print(f'| {name} | {condition} | {rel0:.3f} | {a10:.3f} | {rel1:.3f} | {a11:.3f} | '
              f'{seconds:.0f} |')
    if torch.cuda.is_available():
        print(f'GPU training images/s at 640x192 batch 12: {gpu_throughput()}')


if __name__ == '__main__':
    main()
