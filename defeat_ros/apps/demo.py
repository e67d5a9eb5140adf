"""
The demo: synthetic drives by day and by night through the real ROS 2 node graph, measured.

For each condition a drive of the synthetic street is rendered once and recorded as a rosbag2
(``drives/<condition>``, reused by later runs), then played through real rclpy nodes talking
over DDS in this process (:mod:`~defeat_ros.ros.playback_pipeline`): ``bag_player`` (with
``/clock``) -> ``defeat_node`` (on simulated time) -> a recorder writing the node's outputs
into ``results/<condition>``. The results bag is
then compared with the ground truth in the drive's bag: depth (median-scaled AbsRel and
delta < 1.25, and metric AbsRel), odometry (ATE after sim(3) alignment), frames/s and drops.
Written to the output folder: the two bags per condition, ``contact_sheet.png`` (two frames per
condition: input, true depth, predicted depth and error with their colour bars, and feature
PCA), ``trajectory.png`` (odometry as predicted, and after sim(3) alignment with its scale) and
``summary.json``; the summary is also printed. The figures are ``defeat-ros evaluate``'s
(:mod:`defeat_ros.evaluation.report`).
"""

from dataclasses import dataclass
import json
from pathlib import Path
import platform
import shutil
import time

from defeat_ros.apps.arguments import add_options, config_from_args
from defeat_ros.bags.reader import open_bag, read_messages
from defeat_ros.camera.model_location import resolve_model
from defeat_ros.data.sequence_bag import ODOMETRY_TOPIC, write_bag
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.evaluation import DepthEvaluation
from defeat_ros.evaluation.pose import align_trajectory, invert, orthonormalise
from defeat_ros.evaluation.pose import trajectory_errors
from defeat_ros.evaluation.report import contact_sheet, depth_figure, figure_tile
from defeat_ros.evaluation.report import spread_indices, trajectory_comparison, write_png
from defeat_ros.geometry import quaternion_to_matrix, R_OPTICAL_BODY
from defeat_ros.messages.decode import depth_to_metres, message_to_rgb
from defeat_ros.messages.typestore import header_ns
from defeat_ros.ros.playback_pipeline import NAMESPACE, run_graph
from defeat_ros.runtime.backends import BACKENDS
from defeat_ros.typed_config import option, TypedConfig
import numpy as np
import torch

CONDITIONS = ('day', 'night')


def drive_bag(out, condition, frames, height, width, seed):
    """
    Return the bag of the ``condition`` drive, rendering and recording it unless it exists.

    The drive's settings are kept beside it (``drive.json``); other settings re-render it.
    """
    path = Path(out) / 'drives' / condition
    settings = {'frames': frames, 'height': height, 'width': width, 'seed': seed}
    record = path.with_suffix('.json')
    if path.is_dir() and record.is_file() and json.loads(record.read_text()) == settings:
        return path
    shutil.rmtree(path, ignore_errors=True)
    world = WorldConfig(width=width, height=height, frames=frames, seed=seed,
                        night=condition == 'night')
    write_bag(render_sequence(world), path, depth=True, namespace=NAMESPACE)
    record.write_text(json.dumps(settings) + '\n')
    return path


def read_topics(bag, topics):
    """Return {topic: {stamp ns: deserialised message}} for ``topics`` of a bag."""
    found = {topic: {} for topic in topics}
    reader = open_bag(bag)
    try:
        connections = [c for c in reader.connections if c.topic in found]
        for connection, _, message in read_messages(reader, connections, bag):
            found[connection.topic][header_ns(message)] = message
    finally:
        reader.close()
    return found


def poses_of(odometry_messages):
    """Return N x 4 x 4 odom -> base transforms of nav_msgs/Odometry messages."""
    poses = []
    for message in odometry_messages:
        p, q = message.pose.pose.position, message.pose.pose.orientation
        pose = np.eye(4)
        pose[:3, :3] = quaternion_to_matrix(q.x, q.y, q.z, q.w)
        pose[:3, 3] = [p.x, p.y, p.z]
        poses.append(pose)
    return np.stack(poses)


def evaluate_condition(drive, results, condition, sheet_frames=2):
    """
    Compare a results bag with its drive's ground truth.

    :return: (metrics dict, contact-sheet columns [(title, H' x W' x 3 uint8)], trajectories
        (true, as predicted, sim(3)-aligned positions N x 3 in display axes, starting at the
        origin), the alignment's scale).
    """
    inputs = read_topics(drive, [f'{NAMESPACE}/image_raw', f'{NAMESPACE}/depth/ground_truth',
                                 ODOMETRY_TOPIC])
    outputs = read_topics(results, [f'{NAMESPACE}/depth/image', f'{NAMESPACE}/odometry',
                                    f'{NAMESPACE}/features/visual'])
    truths, images = inputs[f'{NAMESPACE}/depth/ground_truth'], inputs[f'{NAMESPACE}/image_raw']
    depths = outputs[f'{NAMESPACE}/depth/image']
    stamps = sorted(set(depths) & set(truths))
    if not stamps:
        raise RuntimeError(f'{results} holds no depth for any frame of {drive}')
    scaled, metric = DepthEvaluation(crop=False), DepthEvaluation(crop=False, median_scaling=False)
    for stamp in stamps:
        prediction = torch.from_numpy(depth_to_metres(depths[stamp]))
        truth = torch.from_numpy(depth_to_metres(truths[stamp]))
        scaled.add(prediction, truth)
        metric.add(prediction, truth)
    odometry = outputs[f'{NAMESPACE}/odometry']
    common = sorted(set(odometry) & set(inputs[ODOMETRY_TOPIC]))
    predicted = poses_of([odometry[s] for s in common])
    truth_poses = poses_of([inputs[ODOMETRY_TOPIC][s] for s in common])
    trajectory = trajectory_errors(predicted, truth_poses)
    metric_trajectory = trajectory_errors(predicted, truth_poses, with_scale=False)
    # Both from the pose of the first common frame: what the unaligned panel compares.
    predicted = invert(predicted[:1]) @ predicted
    truth_poses = invert(truth_poses[:1]) @ truth_poses
    aligned, scale = align_trajectory(orthonormalise(predicted), truth_poses)
    columns = []
    features = outputs[f'{NAMESPACE}/features/visual']
    for index in spread_indices(len(stamps), sheet_frames):
        stamp = stamps[index]
        rgb = message_to_rgb(images[stamp])
        column = depth_figure(rgb, depth_to_metres(truths[stamp]), depth_to_metres(depths[stamp]))
        if stamp in features:  # at the network's size (features_resolution): the input's view
            width = column.shape[1]
            column = np.concatenate([column, figure_tile(
                message_to_rgb(features[stamp]), 'features (PCA)', width,
                height=round(rgb.shape[0] * width / rgb.shape[1]))])
        columns.append((f'{condition}, frame {index}', column))
    summary = scaled.summary()
    metrics = {'frames_evaluated': len(stamps), 'frames_in_drive': len(truths),
               'abs_rel': summary['abs_rel'], 'a1': summary['a1'],
               'metric_abs_rel': metric.summary()['abs_rel'],
               'ate_rmse_m': trajectory['ate_rmse'], 'ate_scale': trajectory['scale'],
               'metric_ate_rmse_m': metric_trajectory['ate_rmse'],
               'rpe_rot_deg': trajectory['rpe_rot_mean_deg']}
    # trajectory_figure draws optical-style axes (x right, z forward): rotate the body axes.
    positions = tuple(poses[:, :3, 3] @ R_OPTICAL_BODY.T
                      for poses in (truth_poses, predicted, aligned))
    return metrics, columns, positions, scale


@dataclass
class DemoConfig(TypedConfig):
    """What ``defeat-ros demo`` renders, plays and measures."""

    out: str = option('demo_output', 'Output directory')
    model: str = option('', 'Model directory; empty: the default model')
    backend: str = option('auto', 'Inference backend', choices=BACKENDS)
    frames: int = option(80, 'Frames per drive', minimum=2, maximum=100000)
    height: int = option(192, 'Camera image height', minimum=32, maximum=4320)
    width: int = option(640, 'Camera image width', minimum=32, maximum=7680)
    rate: float = option(0.5, "Playback speed factor; below the node's frame rate every frame "
                         'is processed', minimum=0.01, maximum=100.0)
    seed: int = option(7, 'Street and drive of the demo')

    def __post_init__(self):
        """Check every option."""
        self.check_options()


def run_demo(config, log=print):
    """Run the demo of a :class:`DemoConfig` (see the module docstring); return the summary."""
    start = time.monotonic()
    out, frames, height, width = Path(config.out), config.frames, config.height, config.width
    seed, rate, backend = config.seed, config.rate, config.backend
    model = resolve_model(config.model)
    summary = {'model': str(model), 'rate': rate, 'conditions': {},
               'machine': f'{platform.machine()} {platform.processor() or ""}'.strip()}
    columns, truths, predictions = [], [], []
    for condition in CONDITIONS:
        drive = drive_bag(out, condition, frames, height, width, seed)
        log(f'{condition}: playing {drive} through bag_player -> defeat_node -> recorder')
        graph = run_graph(drive, out / 'results' / condition, model, backend, rate)
        metrics, condition_columns, (truth, predicted, aligned), scale = evaluate_condition(
            drive, out / 'results' / condition, condition)
        metrics.update(backend=graph['backend'],
                       frames_per_second=metrics['frames_evaluated'] / graph['seconds'],
                       dropped=metrics['frames_in_drive'] - metrics['frames_evaluated'])
        summary['backend'] = graph['backend']
        summary['conditions'][condition] = metrics
        columns += condition_columns
        truths = truths or [('ground truth (both drives)', truth)]  # the same trajectory
        predictions.append((f'{condition}: odometry', predicted, aligned, scale))
    write_png(out / 'contact_sheet.png', contact_sheet([c for _, c in columns],
                                                       [t for t, _ in columns]))
    write_png(out / 'trajectory.png', trajectory_comparison(truths, predictions))
    summary['seconds'] = time.monotonic() - start
    (out / 'summary.json').write_text(json.dumps(summary, indent=2) + '\n')
    log(summary_table(summary, out))
    return summary


def summary_table(summary, out):
    """Format the printed summary of a demo run."""
    names = [('abs_rel', 'AbsRel (median-scaled)'), ('a1', 'delta < 1.25'),
             ('metric_abs_rel', 'AbsRel (metric, unscaled)'), ('ate_rmse_m', 'ATE RMSE (m)'),
             ('frames_per_second', 'frames/s through the graph'),
             ('frames_evaluated', 'frames with results'), ('dropped', 'frames dropped')]
    lines = [f'\n{"":30s}' + ''.join(f'{c:>10s}' for c in summary['conditions'])]
    for key, label in names:
        values = [summary['conditions'][c][key] for c in summary['conditions']]
        cells = [f'{v:10.3f}' if isinstance(v, float) else f'{v:10d}' for v in values]
        lines.append(f'{label:30s}' + ''.join(cells))
    lines.append(f'\nbackend {summary["backend"]}, model {summary["model"]}; '
                 f'{summary["seconds"]:.0f} s in all. Outputs in {out}/: results/<condition> '
                 f'(bags), drives/<condition> (inputs), contact_sheet.png, trajectory.png, '
                 f'summary.json')
    return '\n'.join(lines)


def add_arguments(parser):
    """Add the options of ``defeat-ros demo`` (those of DemoConfig)."""
    add_options(parser, DemoConfig)


def run(args):
    """Run ``defeat-ros demo`` with parsed ``args``."""
    run_demo(config_from_args(DemoConfig, args))
