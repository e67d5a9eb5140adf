#!/usr/bin/env python3
"""
Metric depth and odometry from the camera height, against unscaled and oracle scaling.

    .venv/bin/python benchmarks/camera_height_scale.py --frames 100 --seeds 100 101

Unseen synthetic drives (seeds the default model was not trained on; true mounting height
1.65 m) go through Perception with the default model, by day and by night. Three scalings of
the same predictions are compared against exact depth and the true trajectory:

* unscaled: the model's own scale ('model' mode);
* oracle: each depth map median-scaled to the ground truth, and the trajectory aligned with a
  least-squares scale (sim(3) Umeyama): the usual monocular protocol, which needs ground truth;
* camera height: 'camera_height' mode, with no ground truth at all.

Depth: AbsRel and delta < 1.25 over all pixels with ground truth below 80 m (no crop). ATE:
RMSE of the full trajectory (:func:`~defeat_ros.evaluation.pose.trajectory_errors`), aligned
without scale (SE(3), metric) for unscaled and camera height, with scale for the oracle.
Ratios printed: the oracle depth scale median(gt) / median(pred) (per image, median over the
images), the camera-height scale (mean over frames) and their quotient, and the scale that the
sim(3) alignment would still apply to the camera-height trajectory (1 is perfect), and the
fraction of frames where a ground plane was found.
"""

import argparse

from defeat_ros.apps.benchmark import machine
from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.evaluation import DepthEvaluation, trajectory_errors
from defeat_ros.evaluation.pose import chain_motions, invert
from defeat_ros.ros.depth_node import resolve_model
from defeat_ros.runtime.perception import Perception
import numpy as np
import torch


def predict(perception, sequence):
    """
    Run Perception over a drive.

    :return: (depth tensor F x h x w, scales F, plane found F bool, motions (F-1) x 4 x 4).
    """
    perception.reset()
    perception.ground.reset()
    depths, scales, found, motions = [], [], [], []
    for image in images_uint8(sequence.images):
        result = perception(image, features=False, k_norm=sequence.k_norm)
        depths.append(result.depth)
        scales.append(result.scale)
        found.append(result.scale_confidence > 0.0)
        if result.transform is not None:  # T_previous_current: its inverse is T_next_prev
            motions.append(invert(result.transform[None])[0])
    return torch.from_numpy(np.stack(depths)), np.array(scales), np.array(found), np.stack(
        motions)


def unscale(motions, scales):
    """Divide each motion's translation by the scale of the frame it ends at."""
    motions = motions.copy()
    motions[:, :3, 3] /= scales[1:, None]
    return motions


def evaluate(perception, sequences):
    """Return {scaling: (AbsRel, a1, mean ATE RMSE)} and the ratios over ``sequences``."""
    depth = {name: DepthEvaluation(crop=False, median_scaling=name == 'oracle')
             for name in ('unscaled', 'oracle', 'camera height')}
    ate = {name: [] for name in depth}
    scales, found, alignment = [], [], []
    for sequence in sequences:
        predicted, frame_scales, frame_found, motions = predict(perception, sequence)
        scales.extend(frame_scales)
        found.extend(frame_found)
        for index, truth in enumerate(sequence.depths):
            unscaled = predicted[index] / frame_scales[index]
            depth['unscaled'].add(unscaled, truth)
            depth['oracle'].add(unscaled, truth)
            depth['camera height'].add(predicted[index], truth)
        poses = sequence.poses.double().numpy()
        truth = invert(poses[:1]) @ poses
        raw = chain_motions(unscale(motions, frame_scales))
        metric = chain_motions(motions)
        ate['unscaled'].append(trajectory_errors(raw, truth, with_scale=False)['ate_rmse'])
        ate['oracle'].append(trajectory_errors(raw, truth, with_scale=True)['ate_rmse'])
        ate['camera height'].append(trajectory_errors(metric, truth, with_scale=False)['ate_rmse'])
        alignment.append(trajectory_errors(metric, truth, with_scale=True)['scale'])
    rows = {}
    for name, evaluation in depth.items():
        summary = evaluation.summary()
        rows[name] = (summary['abs_rel'], summary['a1'], float(np.mean(ate[name])))
    oracle = depth['oracle'].summary()['ratio_median']
    ratios = (oracle, float(np.mean(scales)), float(np.mean(scales)) / oracle,
              float(np.mean(alignment)), float(np.mean(found)))
    return rows, ratios


def main():
    """Render the drives, evaluate each scaling by day and by night, print the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', default='', help='model directory (default model if empty)')
    parser.add_argument('--backend', default='auto')
    parser.add_argument('--frames', type=int, default=100, help='frames per drive (10 Hz)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[100, 101],
                        help='drive seeds (the default model trains on seeds 0-5)')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=192)
    args = parser.parse_args()
    model_dir = resolve_model(args.model)
    perception = Perception(model_dir, args.backend, scale_mode='camera_height',
                            camera_height=WorldConfig.camera_height)
    print(f'machine: {machine()}')
    print(f'model: {model_dir} ({perception.config.width}x{perception.config.height}) on '
          f'{perception.backend.name}; drives {args.seeds} x {args.frames} frames at '
          f'{args.width}x{args.height}, true camera height {WorldConfig.camera_height} m\n')
    table = ['| test | scaling | AbsRel | delta<1.25 | ATE RMSE (m) |',
             '| --- | --- | --- | --- | --- |']
    ratio_table = ['| test | oracle depth scale | camera-height scale | camera / oracle | '
                   'residual sim(3) scale | frames with a plane |',
                   '| --- | --- | --- | --- | --- | --- |']
    for condition in ('day', 'night'):
        sequences = [render_sequence(WorldConfig(
            width=args.width, height=args.height, frames=args.frames, seed=seed,
            night=condition == 'night')) for seed in args.seeds]
        rows, ratios = evaluate(perception, sequences)
        for name, (abs_rel, a1, ate) in rows.items():
            table.append(f'| {condition} | {name} | {abs_rel:.3f} | {a1:.3f} | {ate:.2f} |')
        ratio_table.append(f'| {condition} | ' + ' | '.join(f'{r:.3f}' for r in ratios) + ' |')
    print('\n'.join(table) + '\n\n' + '\n'.join(ratio_table))


if __name__ == '__main__':
    main()
