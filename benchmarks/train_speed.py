#!/usr/bin/env python3
"""
Training images/s side by side: fp32 against bf16 autocast, with and without channels-last.

Each setting is a Trainer of the same recipe and initial weights stepping on the same batch of
the synthetic street; the settings take turns, round after round, so that a machine's changing
load falls on all of them alike, and the median round of each is reported with its ratio to
fp32. Three sizes: the shipped model's recipe (config/train/default_model.yaml), the same at
twice the encoder width (32) and the paper's networks (ResNet-18 encoders of full width at
640 x 192). On a CUDA GPU the same table
compares fp16 autocast (with loss scaling) instead of bf16. Not a test:

    .venv/bin/python benchmarks/train_speed.py --rounds 3 --steps 2
"""

import argparse
import statistics
import tempfile
import time

from defeat_ros.trainer.build import training_dataset
from defeat_ros.trainer.config import TrainConfig
from defeat_ros.trainer.trainer import Trainer
import torch
from train_synthetic import config, machine

SIZES = {
    'shipped': {},
    'wide': {'encoder_width': 32},
    'paper': {'height': 192, 'width': 640, 'encoder_width': 64, 'feature_dims': 32},
}
"""Model overrides of the shipped recipe."""


def settings():
    """Return {name: OptimConfig overrides} of the compared settings."""
    reduced = 'fp16' if torch.cuda.is_available() else 'bf16'
    return {f'{precision}{" channels-last" if last else ""}':
            {'amp': precision != 'fp32', 'amp_dtype': reduced, 'channels_last': last}
            for precision in ('fp32', reduced) for last in (False, True)}


def trainers(scratch, size, batch):
    """
    Build one Trainer per setting, all from the same seed, and the batch they step on.

    The settings differ only in their optimisation, so the drives are rendered once for all.
    """
    built, dataset = {}, None
    for name, optim in settings().items():
        cfg = config(f'{scratch}/{size}/{name}', 1, {}, SIZES[size], batch=batch)
        cfg = TrainConfig.from_dict({**cfg.to_dict(), 'optim': {**cfg.optim.to_dict(), **optim}})
        dataset = dataset or training_dataset(cfg)
        torch.manual_seed(cfg.seed)
        built[name] = Trainer(cfg, dataset, log=lambda *_: None)
    batch = next(iter(next(iter(built.values())).loader))
    return built, batch


def timed_steps(trainer, batch, steps):
    """Seconds per image of ``steps`` training steps on ``batch``."""
    if trainer.device.type == 'cuda':
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(batch)
    if trainer.device.type == 'cuda':
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / (steps * len(batch['target']))


def main():
    """Time every setting at both sizes and print the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rounds', type=int, default=3, help='turns each setting takes')
    parser.add_argument('--steps', type=int, default=2, help='timed steps per turn')
    parser.add_argument('--batch', type=int, default=4, help='frame tuples per step')
    parser.add_argument('--sizes', nargs='+', choices=sorted(SIZES), default=list(SIZES))
    args = parser.parse_args()
    print(machine())
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            built, batch = trainers(scratch, size, args.batch)
            for trainer in built.values():
                timed_steps(trainer, batch, 1)  # warm-up: allocations, kernel choice
            seconds = {name: [] for name in built}
            for _ in range(args.rounds):
                for name, trainer in built.items():
                    seconds[name].append(timed_steps(trainer, batch, args.steps))
            model = next(iter(built.values())).config.model
            base = statistics.median(seconds['fp32'])
            for name, values in seconds.items():
                rate = 1 / statistics.median(values)
                rows.append((f'{size} ({model.width}x{model.height}, width '
                             f'{model.encoder_width})', name, rate, base * rate))
    print(f'\nbatch {args.batch}, {args.rounds} rounds of {args.steps} steps, median round')
    print('| model | setting | img/s | vs fp32 |')
    print('| --- | --- | --- | --- |')
    for size, name, rate, ratio in rows:
        print(f'| {size} | {name} | {rate:.2f} | {ratio:.2f}x |')


if __name__ == '__main__':
    main()
