"""
Odometry when the node is slower than the camera: ATE and restarts at 1x to 8x its capacity.

    .venv/bin/python benchmarks/odometry_under_load.py --frames 300 --out /tmp/odometry_load

A synthetic day drive (10 Hz camera, exact ground truth) is played through the real graph
(bag_player -> defeat_node -> recorder, one process, as in ``defeat-ros demo``). First the
drive is played much faster than the node can go, to measure its capacity (frames processed
per second of wall time); then it is played at 1, 2, 4 and 8 times that capacity. The node
processes the newest frame and skips the others, so at k times its capacity it processes about
every k-th frame. Printed per load: frames processed, odometry restarts (frames whose twist
covariance says 'unknown', after the first), ATE RMSE after sim(3) alignment over the
processed frames, and the mean time between processed frames in the camera's clock.

Odometry restarts only for gaps in the camera stream, not for frames the node skipped, so
restarts stay at zero at every load; what load costs is the PoseNet's accuracy over longer
baselines.
"""

import argparse
from pathlib import Path
import platform

from defeat_ros.apps.demo import drive_bag, poses_of, read_topics
from defeat_ros.camera.model_location import resolve_model
from defeat_ros.camera.odometry import LOST_VARIANCE
from defeat_ros.data.sequence_bag import ODOMETRY_TOPIC
from defeat_ros.evaluation.pose import orthonormalise, trajectory_errors
from defeat_ros.ros.playback_pipeline import NAMESPACE, run_graph
from defeat_ros.runtime.backends import cpu_model
import numpy as np

CAMERA_HZ = 10.0
"""Frame rate of the synthetic drives."""


def measure(drive, results, model, backend, rate):
    """Play ``drive`` at ``rate`` and return the processed count, restarts, ATE and timing."""
    graph = run_graph(drive, results, model, backend, rate)
    odometry = read_topics(results, [f'{NAMESPACE}/odometry'])[f'{NAMESPACE}/odometry']
    truth = read_topics(drive, [ODOMETRY_TOPIC])[ODOMETRY_TOPIC]
    stamps = sorted(set(odometry) & set(truth))
    restarts = sum(np.reshape(odometry[s].twist.covariance, (6, 6))[0, 0] >= LOST_VARIANCE
                   for s in stamps[1:])
    errors = trajectory_errors(orthonormalise(poses_of([odometry[s] for s in stamps])),
                               poses_of([truth[s] for s in stamps]))
    return {'processed': len(stamps), 'restarts': int(restarts),
            'ate_rmse_m': errors['ate_rmse'],
            'interval_s': float(np.mean(np.diff(stamps))) * 1e-9,
            'fps': len(stamps) / graph['seconds'], 'backend': graph['backend']}


def main():
    """Measure the capacity, then odometry at multiples of it; print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', type=int, default=300, help='frames of the drive')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=192)
    parser.add_argument('--model', default='', help='model directory; empty: the default')
    parser.add_argument('--backend', default='auto')
    parser.add_argument('--loads', default='1,2,4,8', help='multiples of the capacity')
    parser.add_argument('--out', default='odometry_load_output')
    args = parser.parse_args()
    out, model = Path(args.out), resolve_model(args.model)
    drive = drive_bag(out, 'day', args.frames, args.height, args.width, seed=7)
    saturated = measure(drive, out / 'results' / 'capacity', model, args.backend, rate=20.0)
    capacity = saturated['fps']
    print(f'{cpu_model()} ({platform.machine()}), {saturated["backend"]}, '
          f'{args.width}x{args.height}, {args.frames} frames at {CAMERA_HZ:g} Hz')
    print(f'capacity: {capacity:.1f} frames/s (drive played at 20x, {CAMERA_HZ * 20:g} Hz)\n')
    print(f'{"load":>6} {"input Hz":>9} {"processed":>10} {"restarts":>9} '
          f'{"interval (s)":>13} {"ATE RMSE (m)":>13}')
    for load in [float(k) for k in args.loads.split(',')]:
        rate = load * capacity / CAMERA_HZ
        row = measure(drive, out / 'results' / f'load_{load:g}', model, args.backend, rate)
        print(f'{load:>5g}x {rate * CAMERA_HZ:>9.1f} {row["processed"]:>6d}/{args.frames:<3d} '
              f'{row["restarts"]:>9d} {row["interval_s"]:>13.3f} {row["ate_rmse_m"]:>13.3f}')


if __name__ == '__main__':
    main()
