"""
Evaluate a model directory on every data source asked for, and write one report.

Real datasets: KITTI raw frames of a split (Eigen depth against LiDAR, features), KITTI
odometry sequences (pose), RobotCar day and night runs (depth against LiDAR). Without any, the
synthetic street by day and by night (depth, pose and features with exact truth). The model is
run directly (``depth_net.depth``, ``relative_pose``, ``features``) at its own resolution;
predictions are compared with ground truth at the ground truth's resolution. Each condition
names the published benchmarks it compares with (:mod:`~defeat_ros.evaluation.references`),
which the report prints beside it. :func:`evaluate_model` is what ``defeat-ros evaluate`` and
``training/evaluate.py`` call.
"""

from defeat_ros.data.kitti_split import read_split
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.evaluation.kitti_odometry import evaluate_odometry_sequence
from defeat_ros.evaluation.kitti_raw import evaluate_kitti
from defeat_ros.evaluation.pose import evo_available
from defeat_ros.evaluation.protocol import EvaluationConfig
from defeat_ros.evaluation.references import odometry_benchmark
from defeat_ros.evaluation.report import trajectory_comparison, write_report
from defeat_ros.evaluation.robotcar import evaluate_robotcar
from defeat_ros.evaluation.synthetic import evaluate_sequence
from defeat_ros.nets import load_model
import torch

SYNTHETIC_CONTEXT = {'day': ['robotcar_day'], 'night': ['robotcar_night']}
"""Published numbers shown beside a synthetic condition, as context only."""


def evaluate_synthetic(model, conditions, frames, seed, height, width, config, log=print):
    """
    Render the synthetic drive once per condition and evaluate depth, pose and features.

    :return: (data description, {condition: result}, figures).
    """
    data = (f'synthetic street world, seed {seed}, {frames} frames, {width}x{height}, '
            f'conditions {", ".join(conditions)}')
    results, figures, trajectories = {}, {}, {}
    for condition in conditions:
        if condition not in ('day', 'night'):
            raise ValueError(f"conditions are 'day' and 'night', got {condition!r}")
        log(f'rendering and evaluating the {condition} drive ({frames} frames)')
        sequence = render_sequence(WorldConfig(width=width, height=height, frames=frames,
                                               seed=seed, night=condition == 'night'))
        result, condition_figures, trajectories[condition] = evaluate_sequence(
            model, sequence, config, condition)
        results[condition] = {**result, 'benchmarks': SYNTHETIC_CONTEXT[condition],
                              'same_data': False}
        figures.update(condition_figures)
    drawn = {name: lines for name, lines in trajectories.items() if lines}
    if drawn:  # the conditions share one true trajectory: draw it once
        truth = [('ground truth', next(iter(drawn.values()))['ground truth'])]
        figures['trajectory'] = trajectory_comparison(truth, [
            (f'{name} prediction', t['prediction'], t['aligned'], t['scale'])
            for name, t in drawn.items()])
    return data, results, figures


def evaluate_model(model_dir, out, kitti_root=None, split=None, odometry_root=None,
                   sequences=('09', '10'), robotcar_runs=None, robotcar_options=None,
                   conditions=('day', 'night'), frames=40, seed=1000, height=None, width=None,
                   config=None, device=None, log=print):
    """
    Evaluate a model directory and write the report into ``out``.

    :param kitti_root: KITTI raw root; with ``split`` (a split file): Eigen depth (and
        features where the frames' successors and oxts packets exist) on those frames.
    :param odometry_root: KITTI odometry root: pose on each of ``sequences``.
    :param robotcar_runs: {'day': image folder, 'night': image folder} (either or both):
        depth against each run's laser scans.
    :param robotcar_options: keyword arguments of
        :func:`~defeat_ros.evaluation.robotcar.evaluate_robotcar` (camera, extrinsics_dir,
        frames, lidar).
    :param conditions: without real data: the synthetic lighting conditions ('day', 'night':
        the same street and trajectory), rendered at the model's resolution unless
        ``height``/``width`` are given.
    :return: the result dict (also written as out/results.json and out/results.md).
    """
    config = config or EvaluationConfig()
    if config.trajectory_backend == 'evo' and not evo_available():
        raise RuntimeError('--trajectory-backend evo needs the evo package '
                           '(pip install evo==1.38.1)')
    if kitti_root is not None and split is None:
        raise ValueError('a KITTI evaluation needs a split file')
    device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    model = load_model(model_dir).to(device).eval()
    results = {'model': str(model_dir), 'conditions': {},
               'protocol': {key: getattr(config, key) for key in config.__dataclass_fields__}}
    described, figures = [], {}
    if kitti_root is not None:
        entries = read_split(split)
        log(f'evaluating depth and features on {len(entries)} KITTI frames from {kitti_root}')
        described.append(f'KITTI raw {kitti_root}, split {split} ({len(entries)} frames)')
        result, kitti_figures = evaluate_kitti(model, kitti_root, entries, config)
        results['conditions']['kitti'] = {**result,
                                          'benchmarks': ['kitti_eigen', 'kitti_features']}
        figures.update(kitti_figures)
    if odometry_root is not None:
        numbers = [f'{int(sequence):02d}' for sequence in sequences]
        described.append(f'KITTI odometry {odometry_root}, sequences {", ".join(numbers)}')
        for number in numbers:
            log(f'evaluating visual odometry on KITTI odometry sequence {number}')
            result, figures[f'trajectory_{number}'] = evaluate_odometry_sequence(
                model, odometry_root, number, config)
            reference = odometry_benchmark(number)
            results['conditions'][f'odometry {number}'] = {
                **result, 'benchmarks': [reference] if reference else []}
    for condition, folder in (robotcar_runs or {}).items():
        log(f'evaluating depth on the RobotCar {condition} run {folder}')
        described.append(f'RobotCar {condition} {folder}')
        result, robotcar_figures = evaluate_robotcar(model, folder, config,
                                                     name=f'robotcar_{condition}',
                                                     **(robotcar_options or {}))
        results['conditions'][f'robotcar {condition}'] = {
            **result, 'benchmarks': [f'robotcar_{condition}']}
        figures.update(robotcar_figures)
    if not described:
        data, results['conditions'], figures = evaluate_synthetic(
            model, conditions, frames, seed, height or model.config.height,
            width or model.config.width, config, log)
        described.append(data)
    results['data'] = '; '.join(described)
    written = write_report(results, out, figures)
    results['files'] = {'json': str(written['json']), 'markdown': str(written['markdown']),
                        'figures': [str(p) for p in written['figures']]}
    return results
