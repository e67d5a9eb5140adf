#!/usr/bin/env python3
"""
The node's odometry: PoseNet, direct alignment, its scale from the road or the wheel: 8 s error.

    .venv/bin/python benchmarks/pose_refinement.py [--model MODEL_DIR] [--backend auto] \
        [--resolutions 640x192,1242x375] [--frames 80] [--seeds 1000,2000,3000] \
        [--intrinsics 0.58,1.92]

For each camera resolution, lighting and street seed (1000 by default: the evaluations' street;
no training uses seeds of 1000 and up; 10 Hz, exact poses), a drive is rendered at that size
(with the normalised focal lengths ``--intrinsics`` fx / W, fy / H: the training camera's by
default) and its frames go through :class:`~defeat_ros.runtime.perception.Perception` as the
node runs it, side by side in one process: with ``pose_refinement`` 'none' (PoseNet's poses), with
'direct', and with 'direct' in two other ``scale_mode`` values: camera_height (the scale from
the road plane 1.65 m below the camera, the street's mounting height) and speed (each step's
length from a simulated wheel odometry, :mod:`~defeat_ros.data.wheel_speed`: 50 Hz, 1 % scale
error, 0.03 m/s noise, its seed the street's; the distances come from
:class:`~defeat_ros.camera.speed_history.SpeedHistory` as in the node). Printed per row: the
trajectory's metric ATE (RMSE of the camera positions chained from the first frame, no
alignment: what a robot sees of its odometry over the drive), the predicted path length over
the true one, the RMSE after sim(3) alignment (the trajectory's shape), and Perception's wall
time per frame (p50), with its ratio to 'none'. With several
streets a mean row per odometry follows.
"""

import argparse
import math
from statistics import median

from defeat_ros.apps.benchmark import machine
from defeat_ros.camera.model_location import resolve_model
from defeat_ros.camera.speed_history import SpeedHistory
from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.data.wheel_speed import simulate_wheel_odometry, WheelOdometryConfig
from defeat_ros.evaluation.pose import (absolute_errors, chain_motions, path_length,
                                        relative_motions, statistics, trajectory_errors)
from defeat_ros.runtime.backends import BACKENDS
from defeat_ros.runtime.perception import Perception
import numpy as np


ODOMETRY = {'none': {'pose_refinement': 'none'}, 'direct': {'pose_refinement': 'direct'},
            'direct, camera height': {'pose_refinement': 'direct', 'scale_mode': 'camera_height',
                                      'camera_height': WorldConfig.camera_height},
            'direct, speed': {'pose_refinement': 'direct', 'scale_mode': 'speed'}}
"""The rows per drive: name -> Perception's options ('none' first: the time ratio's baseline)."""


def wheel_distances(sequence, seed):
    """
    Metres a simulated wheel odometry says the vehicle travelled before each frame.

    :return: F float64; NaN for the first frame.
    """
    wheel = simulate_wheel_odometry(sequence, WheelOdometryConfig(seed=seed))
    history = SpeedHistory(kept=None)
    for stamp, speed in zip(wheel.stamps, wheel.speeds):
        history.add(round(stamp * 1e9), speed)
    stamps = [round(stamp * 1e9) for stamp in sequence.stamps.double().tolist()]
    return [math.nan] + [history.travelled(*pair) for pair in zip(stamps[:-1], stamps[1:])]


def drive_odometry(perception, frames, k_norm, travelled=None):
    """
    Run Perception over a drive's frames.

    :param frames: F x H x W x 3 uint8 RGB.
    :param travelled: F metres travelled before each frame (``scale_mode`` speed); None: none.
    :return: ((F-1) x 4 x 4 float64 T_next_prev, F-1 seconds per frame after the first).
    """
    perception.reset()
    motions, seconds = [], []
    for index, frame in enumerate(frames):
        result = perception(frame, features=False, k_norm=k_norm,
                            travelled=None if travelled is None else travelled[index])
        if index:
            motions.append(np.linalg.inv(result.transform))
            seconds.append(result.seconds)
    return np.stack(motions), seconds


def trajectory_row(motions, true_motions):
    """Metric ATE (m), path length ratio and sim(3)-aligned ATE (m) of chained motions."""
    predicted, truth = chain_motions(motions), chain_motions(true_motions)
    metric = statistics(absolute_errors(predicted, truth), 'ate')['ate_rmse']
    shape = trajectory_errors(predicted, truth)['ate_rmse']
    return metric, path_length(predicted) / path_length(truth), shape


def print_row(width, height, lighting, street, odometry, row, baseline_seconds):
    """Print one table row: row is (metric ATE, path ratio, sim(3) ATE, seconds per frame)."""
    metric, ratio, shape, seconds = row
    print(f'| {width}x{height} | {lighting} | {street} | {odometry} | {metric:.2f} | '
          f'{ratio:.3f} | {shape:.2f} | {1000 * seconds:.1f} | '
          f'{seconds / baseline_seconds:.2f} |')


def resolution(text):
    """Parse 'WxH' into (width, height)."""
    width, height = (int(value) for value in text.lower().split('x'))
    return width, height


def main(argv=None):
    """Print the table; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0].strip())
    parser.add_argument('--model', default='', help='model directory (default: models/default)')
    parser.add_argument('--backend', default='auto', choices=BACKENDS)
    parser.add_argument('--resolutions', default='640x192,1242x375',
                        type=lambda text: [resolution(item) for item in text.split(',')],
                        help='camera sizes WxH, comma-separated')
    parser.add_argument('--frames', type=int, default=80, help='frames per drive (10 Hz)')
    parser.add_argument('--seeds', default=[1000],
                        type=lambda text: [int(item) for item in text.split(',')],
                        help='streets and drives, comma-separated (several: a mean row too)')
    parser.add_argument('--intrinsics', default=(WorldConfig.fx, WorldConfig.fy),
                        type=lambda text: tuple(float(item) for item in text.split(',')),
                        help="the cameras' fx / W and fy / H, comma-separated")
    args = parser.parse_args(argv)
    fx, fy = args.intrinsics
    model = resolve_model(args.model)
    perceptions = {name: Perception(model, args.backend, **options)
                   for name, options in ODOMETRY.items()}
    print(f'{machine()}; model {model}, backend {perceptions["none"].backend.name}; '
          f'street seeds {args.seeds}, {args.frames} frames at 10 Hz; camera fx / W {fx:g}, '
          f'fy / H {fy:g}')
    print('\n| camera | lighting | street | odometry | metric ATE (m) | '
          'path length ratio | ATE after sim(3) (m) | ms/frame p50 | time ratio |')
    print('| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |')
    for width, height in args.resolutions:
        for night in (False, True):
            lighting = 'night' if night else 'day'
            rows = {name: [] for name in ODOMETRY}
            for seed in args.seeds:
                sequence = render_sequence(WorldConfig(width=width, height=height, fx=fx, fy=fy,
                                                       frames=args.frames, seed=seed,
                                                       night=night))
                frames, k_norm = images_uint8(sequence.images), sequence.k_norm.numpy()
                true_motions = relative_motions(sequence.poses)
                travelled = wheel_distances(sequence, seed)
                for name, perception in perceptions.items():
                    motions, seconds = drive_odometry(perception, frames, k_norm, travelled)
                    rows[name].append((*trajectory_row(motions, true_motions), median(seconds)))
                    print_row(width, height, lighting, seed, name, rows[name][-1],
                              rows['none'][-1][3])
            if len(args.seeds) > 1:
                for name in rows:
                    print_row(width, height, lighting, 'mean', name, np.mean(rows[name], axis=0),
                              np.mean(rows['none'], axis=0)[3])
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
