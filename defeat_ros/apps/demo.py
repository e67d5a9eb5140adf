"""
The demo: synthetic drives by day and by night through the real ROS 2 node graph, measured.

For each condition a drive of the synthetic street is rendered once and recorded as a rosbag2
(``drives/<condition>``, reused by later runs), then played through real rclpy nodes talking
over DDS in this process (:mod:`~defeat_ros.ros.playback_pipeline`): ``bag_player`` (with
``/clock``) -> ``defeat_node`` (on simulated time) -> a recorder writing the node's outputs
into ``results/<condition>``. The results bag is
then compared with the ground truth in the drive's bag: depth (median-scaled AbsRel and
delta < 1.25, and metric AbsRel), odometry (ATE after sim(3) alignment), frames/s and drops.
Written to the output folder: the two bags per condition, ``contact_sheet.png`` (input, true
depth, predicted depth, error and feature PCA per condition), ``trajectory.png`` and
``summary.json``; the summary is also printed.
"""

import json
from pathlib import Path
import platform
import shutil
import time

from defeat_ros.camera.model_location import resolve_model
from defeat_ros.data.rosbag_sequence import depth_array, image_array
from defeat_ros.data.sequence_bag import ODOMETRY_TOPIC, write_bag
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.evaluation import DepthEvaluation
from defeat_ros.evaluation.pose import align_trajectory, orthonormalise, trajectory_errors
from defeat_ros.evaluation.report import depth_figure, label_tile, trajectory_figure, write_png
from defeat_ros.geometry import R_OPTICAL_BODY
from defeat_ros.messages.typestore import header_ns
from defeat_ros.ros.playback_pipeline import NAMESPACE, run_graph
import numpy as np
from rosbags.highlevel import AnyReader
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
    partial = path.with_name(path.name + '.partial')
    shutil.rmtree(partial, ignore_errors=True)
    write_bag(render_sequence(world), partial, depth=True, namespace=NAMESPACE)
    partial.rename(path)
    record.write_text(json.dumps(settings) + '\n')
    return path


def read_topics(bag, topics):
    """Return {topic: {stamp ns: deserialised message}} for ``topics`` of a bag."""
    found = {topic: {} for topic in topics}
    with AnyReader([Path(bag)]) as reader:
        connections = [c for c in reader.connections if c.topic in found]
        for connection, _, raw in reader.messages(connections=connections):
            message = reader.deserialize(raw, connection.msgtype)
            found[connection.topic][header_ns(message)] = message
    return found


def poses_of(odometry_messages):
    """Return N x 4 x 4 odom -> base transforms of nav_msgs/Odometry messages."""
    poses = []
    for message in odometry_messages:
        p, q = message.pose.pose.position, message.pose.pose.orientation
        x, y, z, w = q.x, q.y, q.z, q.w
        pose = np.eye(4)
        pose[:3, :3] = [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]
        pose[:3, 3] = [p.x, p.y, p.z]
        poses.append(pose)
    return np.stack(poses)


def evaluate_condition(drive, results, condition, sheet_frames=2):
    """
    Compare a results bag with its drive's ground truth.

    :return: (metrics dict, contact-sheet column H' x W x 3 uint8, (true, predicted) positions
        N x 3 after alignment, in display axes).
    """
    inputs = read_topics(drive, [f'{NAMESPACE}/image_raw', f'{NAMESPACE}/depth/ground_truth',
                                 ODOMETRY_TOPIC])
    outputs = read_topics(results, [f'{NAMESPACE}/depth', f'{NAMESPACE}/odometry',
                                    f'{NAMESPACE}/features/visual'])
    truths, images = inputs[f'{NAMESPACE}/depth/ground_truth'], inputs[f'{NAMESPACE}/image_raw']
    depths = outputs[f'{NAMESPACE}/depth']
    stamps = sorted(set(depths) & set(truths))
    if not stamps:
        raise RuntimeError(f'{results} holds no depth for any frame of {drive}')
    scaled, metric = DepthEvaluation(crop=False), DepthEvaluation(crop=False, median_scaling=False)
    for stamp in stamps:
        prediction = torch.from_numpy(depth_array(depths[stamp], 'depth'))
        truth = torch.from_numpy(depth_array(truths[stamp], 'ground truth'))
        scaled.add(prediction, truth)
        metric.add(prediction, truth)
    odometry = outputs[f'{NAMESPACE}/odometry']
    common = sorted(set(odometry) & set(inputs[ODOMETRY_TOPIC]))
    predicted = poses_of([odometry[s] for s in common])
    truth_poses = poses_of([inputs[ODOMETRY_TOPIC][s] for s in common])
    trajectory = trajectory_errors(predicted, truth_poses)
    metric_trajectory = trajectory_errors(predicted, truth_poses, with_scale=False)
    aligned = align_trajectory(orthonormalise(predicted), truth_poses)[0]
    tiles = []
    features = outputs[f'{NAMESPACE}/features/visual']
    for stamp in np.array(stamps)[np.linspace(0, len(stamps) - 1, sheet_frames).astype(int)]:
        image = torch.from_numpy(image_array(images[stamp], 'image')).permute(2, 0, 1) / 255.0
        column = [depth_figure(image, depth_array(truths[stamp], 'gt'),
                               depth_array(depths[stamp], 'depth'))]
        if stamp in features:
            column.append(label_tile(image_array(features[stamp], 'features/visual'),
                                     f'features (PCA), {condition}'))
        tiles.append(np.concatenate(column, axis=0))
    summary = scaled.summary()
    metrics = {'frames_evaluated': len(stamps), 'frames_in_drive': len(truths),
               'abs_rel': summary['abs_rel'], 'a1': summary['a1'],
               'metric_abs_rel': metric.summary()['abs_rel'],
               'ate_rmse_m': trajectory['ate_rmse'], 'ate_scale': trajectory['scale'],
               'metric_ate_rmse_m': metric_trajectory['ate_rmse'],
               'rpe_rot_deg': trajectory['rpe_rot_mean_deg']}
    # trajectory_figure draws optical-style axes (x right, z forward): rotate the body axes.
    positions = (truth_poses[:, :3, 3] @ R_OPTICAL_BODY.T, aligned[:, :3, 3] @ R_OPTICAL_BODY.T)
    return metrics, np.concatenate(tiles, axis=1), positions


def run_demo(out, model='', backend='auto', frames=80, height=192, width=640, rate=0.5,
             seed=7, log=print):
    """
    Run the demo into ``out`` (see the module docstring); return the summary dict.

    :param model: model directory; '' is the default model.
    :param rate: playback speed; below the node's frame rate every frame is processed.
    """
    start = time.monotonic()
    out = Path(out)
    model = resolve_model(model)
    summary = {'model': str(model), 'rate': rate, 'conditions': {},
               'machine': f'{platform.machine()} {platform.processor() or ""}'.strip()}
    columns, plots = [], []
    for condition in CONDITIONS:
        drive = drive_bag(out, condition, frames, height, width, seed)
        log(f'{condition}: playing {drive} through bag_player -> defeat_node -> recorder')
        graph = run_graph(drive, out / 'results' / condition, model, backend, rate)
        metrics, column, (truth, predicted) = evaluate_condition(
            drive, out / 'results' / condition, condition)
        metrics.update(backend=graph['backend'],
                       frames_per_second=metrics['frames_evaluated'] / graph['seconds'],
                       dropped=metrics['frames_in_drive'] - metrics['frames_evaluated'])
        summary['backend'] = graph['backend']
        summary['conditions'][condition] = metrics
        columns.append(column)
        plots += [(f'{condition}: ground truth', truth), (f'{condition}: odometry', predicted)]
    write_png(out / 'contact_sheet.png', np.concatenate(columns, axis=1))
    write_png(out / 'trajectory.png', trajectory_figure(
        plots, title='odometry after sim(3) alignment (day and night drives)'))
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
