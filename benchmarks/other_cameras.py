#!/usr/bin/env python3
"""
Depth of a model on cameras other than its training camera, with and without intrinsics.

    .venv/bin/python benchmarks/other_cameras.py [--model MODEL_DIR] [--backend auto] \
        [--frames 40] [--seed 1000]

The unseen synthetic street (seed 1000 by default: no training uses seeds of 1000 and up) is
rendered through several cameras: the training camera's intrinsics (KITTI's, 3.3 : 1) and
wider cameras such as a 16:9 one with a 90-degree and a 4:3 one with a 70-degree horizontal
field of view. Each frame goes through :class:`~defeat_ros.runtime.perception.Perception` as
the node runs it, twice side by side: without intrinsics (the network's reading of the resized
image) and with the camera's (depth multiplied by the camera's ``fy / H`` over the model's
``camera_focal_y``). Printed per camera and lighting: AbsRel median-scaled (the depth's shape),
metric AbsRel (no scaling) and the median of true over predicted depth (1: metric), over every
pixel with exact depth below 80 m.
"""

import argparse

from defeat_ros.apps.benchmark import machine
from defeat_ros.camera.model_location import resolve_model
from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.evaluation import DepthEvaluation
from defeat_ros.runtime.backends import BACKENDS
from defeat_ros.runtime.perception import Perception
import torch

CAMERAS = {
    'training camera, 640x192': (640, 192, WorldConfig.fx, WorldConfig.fy),
    '16:9, 90 degrees, 640x360': (640, 360, 0.5, 0.889),
    '4:3, 70 degrees, 640x480': (640, 480, 0.714, 0.952),
}
"""name -> (width, height, fx / W, fy / H) of each camera (principal point centred)."""


def scores(perception, frames, depths, k_norm):
    """
    Median-scaled and metric depth summaries of a drive.

    :param frames: F x H x W x 3 uint8 RGB; ``depths`` F x 1 x H x W exact depth (inf: sky).
    :param k_norm: the camera's 3 x 3 normalised intrinsics, or None (no intrinsics given).
    """
    scaled, metric = DepthEvaluation(crop=False), DepthEvaluation(crop=False, median_scaling=False)
    for frame, truth in zip(frames, depths):
        depth = torch.from_numpy(perception(frame, features=False, pose=False,
                                            output_size=frame.shape[:2], k_norm=k_norm).depth)
        truth = torch.where(torch.isfinite(truth[0]), truth[0], torch.zeros(()))
        scaled.add(depth, truth)
        metric.add(depth, truth)
    return scaled.summary(), metric.summary()


def main(argv=None):
    """Print the table; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0].strip())
    parser.add_argument('--model', default='', help='model directory (default: models/default)')
    parser.add_argument('--backend', default='auto', choices=BACKENDS)
    parser.add_argument('--frames', type=int, default=40, help='frames per drive (10 Hz)')
    parser.add_argument('--seed', type=int, default=1000, help='street and drive')
    args = parser.parse_args(argv)
    model = resolve_model(args.model)
    perception = Perception(model, args.backend, pose_refinement='none')
    print(f'{machine()}; model {model} (camera_focal_y {perception.config.camera_focal_y:g}), '
          f'backend {perception.backend.name}; street seed {args.seed}, {args.frames} frames')
    print('\n| camera | lighting | intrinsics | AbsRel | metric AbsRel '
          '| median true / predicted |')
    print('| --- | --- | --- | ---: | ---: | ---: |')
    for name, (width, height, fx, fy) in CAMERAS.items():
        for night in (False, True):
            sequence = render_sequence(WorldConfig(width=width, height=height, fx=fx, fy=fy,
                                                   frames=args.frames, seed=args.seed,
                                                   night=night))
            frames = images_uint8(sequence.images)
            for given, k_norm in (('none', None), ('given', sequence.k_norm.numpy())):
                scaled, metric = scores(perception, frames, sequence.depths, k_norm)
                print(f'| {name} | {"night" if night else "day"} | {given} | '
                      f'{scaled["abs_rel"]:.3f} | {metric["abs_rel"]:.3f} | '
                      f'{scaled["ratio_median"]:.2f} |')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
