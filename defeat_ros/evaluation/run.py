"""
Evaluate a DeFeat-Net model: on synthetic drives (day and night) or on KITTI raw with LiDAR.

The model is run directly (``depth_net.depth``, ``relative_pose``, ``feat_net``) at its own
resolution; predictions are compared with ground truth at the ground truth's resolution.
:func:`evaluate_model` is what ``training/evaluate.py`` calls.
"""

from defeat_ros.data.kitti_split import read_split
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.evaluation.kitti_raw import evaluate_kitti
from defeat_ros.evaluation.pose import evo_available
from defeat_ros.evaluation.protocol import EvaluationConfig
from defeat_ros.evaluation.report import trajectory_comparison, write_report
from defeat_ros.evaluation.synthetic import evaluate_sequence
from defeat_ros.nets import load_model
import torch


def evaluate_model(model_dir, out, kitti_root=None, split=None, conditions=('day', 'night'),
                   frames=40, seed=1000, height=None, width=None, config=None, device=None,
                   log=print):
    """
    Evaluate a model directory and write the report into ``out``.

    Without ``kitti_root`` it renders a synthetic drive per condition ('day', 'night': the
    same street and trajectory) at the model's resolution unless ``height``/``width`` are
    given, and evaluates depth, pose and features; with ``kitti_root`` and ``split`` it
    evaluates depth on those KITTI raw frames against projected LiDAR.

    :return: the result dict (also written as out/results.json and out/results.md).
    """
    config = config or EvaluationConfig()
    if config.trajectory_backend == 'evo' and not evo_available():
        raise RuntimeError('--trajectory-backend evo needs the evo package '
                           '(pip install evo==1.38.1)')
    device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    model = load_model(model_dir).to(device).eval()
    results = {'model': str(model_dir), 'conditions': {},
               'protocol': {key: getattr(config, key) for key in config.__dataclass_fields__}}
    figures = {}
    if kitti_root is not None:
        if split is None:
            raise ValueError('a KITTI evaluation needs a split file')
        entries = read_split(split)
        log(f'evaluating depth on {len(entries)} KITTI frames from {kitti_root}')
        results['data'] = f'KITTI raw {kitti_root}, split {split} ({len(entries)} frames)'
        result, figures = evaluate_kitti(model, kitti_root, entries, config)
        results['conditions']['kitti'] = result
    else:
        height = height or model.config.height
        width = width or model.config.width
        results['data'] = (f'synthetic street world, seed {seed}, {frames} frames, '
                           f'{width}x{height}, conditions {", ".join(conditions)}')
        trajectories = {}
        for condition in conditions:
            if condition not in ('day', 'night'):
                raise ValueError(f"conditions are 'day' and 'night', got {condition!r}")
            log(f'rendering and evaluating the {condition} drive ({frames} frames)')
            sequence = render_sequence(WorldConfig(width=width, height=height, frames=frames,
                                                   seed=seed, night=condition == 'night'))
            result, condition_figures, trajectories[condition] = evaluate_sequence(
                model, sequence, config, condition)
            results['conditions'][condition] = result
            figures.update(condition_figures)
        drawn = {name: lines for name, lines in trajectories.items() if lines}
        if drawn:  # the conditions share one true trajectory: draw it once
            truth = [('ground truth', next(iter(drawn.values()))['ground truth'])]
            figures['trajectory'] = trajectory_comparison(truth, [
                (f'{name} prediction', t['prediction'], t['aligned'], t['scale'])
                for name, t in drawn.items()])
    written = write_report(results, out, figures)
    results['files'] = {'json': str(written['json']), 'markdown': str(written['markdown']),
                        'figures': [str(p) for p in written['figures']]}
    return results
