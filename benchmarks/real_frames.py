#!/usr/bin/env python3
"""
Depth of models on the real KITTI frames in shared/data, against two trivial baselines.

    .venv/bin/python benchmarks/real_frames.py MODEL_DIR [MODEL_DIR ...] \
        [--frames ../shared/data/kitti_object_frames]

The frames (``image_2/*.png``, ``velodyne/*.bin``, ``calib/*.txt`` of the KITTI object
benchmark) are for measuring only: never train or tune on them. Ground truth is each scan
projected into the left colour camera (camera z at the pixel each point falls in:
:func:`~defeat_ros.evaluation.velodyne.velodyne_depth` without Monodepth2's shift). Each model
runs on each image at its own resolution, as the KITTI evaluation runs it
(:func:`~defeat_ros.evaluation.inference.predict_depth`); predictions are resized back through
inverse depth and scored with Garg's crop in
:class:`~defeat_ros.evaluation.depth.DepthEvaluation` (metrics averaged per image), once with
median scaling and once without (metric AbsRel).

Baselines: a constant depth (its value only matters without median scaling) and the flat-ground
prior (:func:`~defeat_ros.evaluation.flat_ground.flat_ground_depth`: a level camera 1.65 m above
an empty road, each frame's own intrinsics, 40 m at and above the horizon). The table gives each
row's median-scaled AbsRel margin below the better baseline (positive: better than it); a model
worth having is at least 0.08 below.

Three frames say little: the column "mirrored AbsRel" scores every row again on the same frames
flipped left to right (image, ground truth and principal point), which are as much a road as the
originals. A difference between two models smaller than what mirroring moves is noise. The
baselines do not look at the image, so mirroring leaves them unchanged.
"""

import argparse
from pathlib import Path

from defeat_ros.apps.benchmark import machine
from defeat_ros.data.image_ops import read_rgb, rgb_tensor
from defeat_ros.evaluation import (DepthEvaluation, read_object_calibration, read_velodyne,
                                   velodyne_depth)
from defeat_ros.evaluation.flat_ground import flat_ground_depth
from defeat_ros.evaluation.inference import predict_depth
from defeat_ros.nets import load_model
import torch

FRAMES = Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'kitti_object_frames'
CONSTANT_DEPTH = 10.0
"""Depth (m) of the constant baseline."""
GOAL_MARGIN = 0.08
"""How far (AbsRel) below the better baseline a model should be."""


def read_frames(root):
    """
    Read every frame of an object-benchmark folder.

    :return: list of (image 3 x H x W in [0, 1], ground truth H x W metres, k_norm 3 x 3), in
        the order of the image names.
    """
    frames = []
    for path in sorted(Path(root).glob('image_2/*.png')):
        image = rgb_tensor(read_rgb(path))
        height, width = image.shape[-2:]
        calibration = read_object_calibration(Path(root) / 'calib' / f'{path.stem}.txt')
        scan = read_velodyne(Path(root) / 'velodyne' / f'{path.stem}.bin')
        frames.append((image, velodyne_depth(scan, calibration, height, width),
                       calibration.k_norm(height, width)))
    return frames


def mirrored(frames):
    """Flip the frames left to right: image, ground truth and the principal point's x."""
    flipped = []
    for image, ground_truth, k_norm in frames:
        k_norm = k_norm.clone()
        k_norm[0, 2] = 1.0 - k_norm[0, 2]
        flipped.append((image.flip(-1), ground_truth.flip(-1), k_norm))
    return flipped


def score(depth_of, frames, flipped_frames):
    """
    Score a depth source on the frames and on the same frames mirrored.

    :param depth_of: function (image 3 x H x W, k_norm 3 x 3) -> depth (any size, metres).
    :param flipped_frames: :func:`mirrored` of ``frames``.
    :return: (median-scaled summary, metric summary, median-scaled summary on the mirrored
        frames).
    """
    scaled, metric, flipped = (DepthEvaluation(), DepthEvaluation(median_scaling=False),
                               DepthEvaluation())
    for image, ground_truth, k_norm in frames:
        depth = depth_of(image, k_norm)
        scaled.add(depth, ground_truth)
        metric.add(depth, ground_truth)
    for image, ground_truth, k_norm in flipped_frames:
        flipped.add(depth_of(image, k_norm), ground_truth)
    return scaled.summary(), metric.summary(), flipped.summary()


def table_row(name, scaled, metric, flipped, baseline):
    """One markdown row: AbsRel, a1, metric AbsRel, scale ratio, mirrored AbsRel, margin."""
    return (f"| {name} | {scaled['abs_rel']:.3f} | {scaled['a1']:.3f} | {metric['abs_rel']:.3f} "
            f"| {scaled['ratio_median']:.2f} | {flipped['abs_rel']:.3f} "
            f"| {baseline - scaled['abs_rel']:+.3f} |")


def main(argv=None):
    """Print the table of the baselines and the models; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('models', nargs='+', type=Path, help='model directories')
    parser.add_argument('--frames', type=Path, default=FRAMES,
                        help='KITTI object-benchmark folder (image_2, velodyne, calib)')
    args = parser.parse_args(argv)
    frames = read_frames(args.frames)
    if not frames:
        parser.error(f'no image_2/*.png in {args.frames}')
    baselines = {
        f'constant {CONSTANT_DEPTH:g} m':
            lambda image, k_norm: torch.full(image.shape[-2:], CONSTANT_DEPTH),
        'flat ground (1.65 m, 40 m far)':
            lambda image, k_norm: flat_ground_depth(k_norm, *image.shape[-2:]),
    }
    flipped_frames = mirrored(frames)
    results = {name: score(depth_of, frames, flipped_frames)
               for name, depth_of in baselines.items()}
    for directory in args.models:
        model = load_model(directory).eval()
        results[str(directory)] = score(
            lambda image, k_norm: predict_depth(model, image[None], 1)[0], frames,
            flipped_frames)
    better = min(baselines, key=lambda name: results[name][0]['abs_rel'])
    bar = results[better][0]['abs_rel']
    print(f'{len(frames)} frames of {args.frames}, Garg crop, ground truth camera z; '
          f'{machine()}')
    print('| depth | AbsRel | a1 | metric AbsRel | median gt/pred | mirrored AbsRel '
          '| below better baseline |')
    print('| --- | --- | --- | --- | --- | --- | --- |')
    for name, (scaled, metric, flipped) in results.items():
        print(table_row(name, scaled, metric, flipped, bar))
    print(f'better baseline: {better}, AbsRel {bar:.3f}; goal: AbsRel <= '
          f'{bar - GOAL_MARGIN:.3f} ({GOAL_MARGIN} below it)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
