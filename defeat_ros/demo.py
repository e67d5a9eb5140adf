"""
The interim demo: train DeFeat-Net from scratch on a rendered drive and measure it.

Runs the smallest real end-to-end path of the package: exact-ground-truth frames -> the three
networks -> the DeFeat loss -> Adam steps -> depth evaluated against ground truth, and writes a
self-describing model directory, a contact sheet and a JSON summary.
"""

import json
from pathlib import Path
import platform
import time

import cv2
from defeat_ros.data.textured_corridor import Corridor, render_drive
from defeat_ros.evaluation import depth_metrics
from defeat_ros.losses import DeFeatLoss, LossConfig
from defeat_ros.nets import DeFeatNet, ModelConfig, save_model
from defeat_ros.training_step import training_step
from defeat_ros.visualisation import colourise_depth, rgb_to_uint8
import numpy as np
import torch

OFFSETS = (-1, 1)


def triplets(drive, centres):
    """Target, sources and intrinsics for frame indices ``centres`` (B of them)."""
    centres = torch.as_tensor(centres)
    target = drive.images[centres]
    sources = [drive.images[centres + offset] for offset in OFFSETS]
    return target, sources, drive.k_norm.expand(len(centres), 3, 3)


@torch.no_grad()
def evaluate(model, loss_fn, drive, seed=0):
    """Median-scaled depth metrics and the self-supervised loss over a drive's inner frames."""
    model.eval()
    centres = list(range(1, len(drive.images) - 1))
    depth = model.depth_net.depth(drive.images[centres])
    metrics = [depth_metrics(d, gt) for d, gt in zip(depth, drive.depths[centres])]
    torch.manual_seed(seed)  # the contrastive loss samples pixels
    target, sources, k_norm = triplets(drive, centres)
    total, _ = loss_fn(model.forward_train(target, sources, OFFSETS), target, sources, k_norm,
                       model.to_depth)
    model.train()
    summary = {name: float(np.mean([m[name] for m in metrics])) for name in metrics[0]}
    summary['self_supervised_loss'] = total.item()
    return summary, depth


def contact_sheet(drive, before, after, index):
    """
    Stack input, true depth, and depth before and after training into one RGB array.

    Predictions are median-scaled to the ground truth (as evaluated) and share its colour range.
    """
    gt = drive.depths[index + 1, 0]
    low, high = float(gt.min()), float(gt.max())
    scaled = [d[index, 0] * gt.median() / d[index, 0].median() for d in (before, after)]
    tiles = [rgb_to_uint8(drive.images[index + 1])]
    tiles += [colourise_depth(d, low, high) for d in [gt] + scaled]
    return np.concatenate(tiles, axis=0)


def run_demo(out, steps=60, frames=24, height=96, width=320, batch=2, learning_rate=2e-4,
             seed=0, log=print):
    """Train for ``steps`` on a rendered drive; evaluate on an unseen drive; write ``out``."""
    start = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    corridor = Corridor(seed=seed)
    train_drive = render_drive(frames, height, width, seed=seed, corridor=corridor)
    eval_drive = render_drive(8, height, width, seed=seed + 1, corridor=corridor)
    config = ModelConfig(feature_dims=16, height=height, width=width, max_depth=80.0,
                         provenance={'trained_by': 'defeat-ros demo', 'steps': steps,
                                     'data': f'textured corridor, {frames} frames, seed {seed}'})
    model = DeFeatNet(config)
    loss_fn = DeFeatLoss(LossConfig(contrastive_positives=512))
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    before, depth_before = evaluate(model, loss_fn, eval_drive)
    log(f'untrained: AbsRel {before["abs_rel"]:.3f}, loss {before["self_supervised_loss"]:.4f}')
    generator = torch.Generator().manual_seed(seed)
    train_start = time.time()
    for step in range(1, steps + 1):
        centres = torch.randint(1, frames - 1, (batch,), generator=generator)
        target, sources, k_norm = triplets(train_drive, centres)
        terms = training_step(model, loss_fn, optimiser, target, sources, OFFSETS, k_norm,
                              max_grad_norm=10.0)
        if step % 10 == 0 or step == steps:
            log(f'step {step}/{steps}: loss {terms["total"]:.4f} '
                f'({(time.time() - train_start) / step:.2f} s/step)')
    train_seconds = time.time() - train_start
    after, depth_after = evaluate(model, loss_fn, eval_drive)
    save_model(model, out / 'model')
    sheet = np.concatenate([contact_sheet(eval_drive, depth_before, depth_after, i)
                            for i in (0, 3)], axis=1)
    cv2.imwrite(str(out / 'contact_sheet.png'), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    summary = {
        'before': before, 'after': after, 'steps': steps, 'batch': batch,
        'resolution': [height, width], 'train_seconds': train_seconds,
        'train_images_per_second': steps * batch / train_seconds,
        'total_seconds': time.time() - start, 'torch_threads': torch.get_num_threads(),
        'machine': f'{platform.machine()} {platform.processor() or ""}'.strip(),
    }
    (out / 'summary.json').write_text(json.dumps(summary, indent=2) + '\n')
    log(f'\n{"":24s}{"untrained":>12s}{"trained":>12s}')
    for name in ('self_supervised_loss', 'abs_rel', 'rmse', 'a1'):
        log(f'{name:24s}{before[name]:12.4f}{after[name]:12.4f}')
    log(f'\n{steps} steps of batch {batch} at {width}x{height} in {train_seconds:.0f} s; '
        f'outputs in {out}/ (model/, contact_sheet.png, summary.json)')
    return summary
