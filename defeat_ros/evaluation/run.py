"""
Evaluate a DeFeat-Net model: on synthetic drives (day and night) or on KITTI raw with LiDAR.

The model is run directly (``depth_net.depth``, ``relative_pose``, ``feat_net``) at its own
resolution; predictions are compared with ground truth at the ground truth's resolution.
:func:`evaluate_model` is what ``training/evaluate.py`` calls.
"""

from dataclasses import dataclass
from pathlib import Path

from defeat_ros.data.image_ops import read_rgb, resize_rgb, rgb_tensor
from defeat_ros.data.kitti_calib import RAW_CAMERAS
from defeat_ros.data.kitti_split import read_split
from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.evaluation.depth import DepthEvaluation, garg_crop_mask, resize_depth
from defeat_ros.evaluation.features import FeatureEvaluation, true_correspondences
from defeat_ros.evaluation.pose import (align_trajectory, chain_motions, evo_available,
                                        relative_motions, snippet_ate_summary,
                                        trajectory_errors)
from defeat_ros.evaluation.report import (contact_sheet, depth_figure, spread_indices,
                                          trajectory_comparison, write_report)
from defeat_ros.evaluation.velodyne import read_calibration, read_velodyne, velodyne_depth
from defeat_ros.geometry import resize, scale_intrinsics
from defeat_ros.nets import load_model
from defeat_ros.typed_config import option, TypedConfig
import torch
import torch.nn.functional as F


@dataclass
class EvaluationConfig(TypedConfig):
    """How to evaluate; defaults follow the published protocols."""

    crop: bool = option(True, "Apply Garg's crop to depth evaluation")
    median_scaling: bool = option(True, 'Scale each depth prediction by median(gt) / '
                                  'median(pred) (monocular models); off: compare metric depth '
                                  'as predicted')
    min_depth: float = 1e-3
    """Smallest ground-truth depth that counts (m)."""
    max_depth: float = option(80.0, 'Largest ground-truth depth that counts (m)', minimum=0.1,
                              maximum=1000.0)
    snippet_length: int = option(5, 'Frames per snippet for the snippet ATE', minimum=2,
                                 maximum=1000, flag='--snippet')
    partial_tail: bool = option(False, 'Also score the shortened snippets at the end of a '
                                "sequence, as Monodepth2's code does")
    trajectory_backend: str = option('builtin', 'Full-trajectory ATE / RPE implementation '
                                     '(evo needs the evo package)', choices=('builtin', 'evo'))
    rpe_delta: int = 1
    """Frame distance of the relative pose error."""
    max_anchors: int = option(5000, 'Feature anchors per image pair', minimum=1,
                              maximum=1000000)
    seed: int = 0
    """Seed of the feature anchor and negative draws."""
    batch: int = 8
    """Frames per network call."""
    figure_frames: int = option(3, 'Frames shown in each depth figure (input, truth, '
                                'prediction, error), spread evenly over the data',
                                minimum=1, maximum=50)
    monodepth2_shift: bool = option(False, 'Ground truth as Monodepth2 exports it: LiDAR points '
                                    'one pixel up and left, the Velodyne x coordinate as depth '
                                    '(see defeat_ros.evaluation.velodyne.velodyne_depth)')


def network_input(images, height, width):
    """
    Return images B x 3 x h x w in [0, 1] as the network's input B x 3 x H x W.

    As a camera delivers them to Perception: quantised to uint8 and resized with the one resize
    of camera images (:func:`~defeat_ros.data.image_ops.resize_rgb`).
    """
    frames = [rgb_tensor(resize_rgb(rgb, height, width)) for rgb in images_uint8(images)]
    return torch.stack(frames).to(images.device)


def _device(model):
    return next(model.parameters()).device


@torch.no_grad()
def predict_depth(model, images, batch=8):
    """Depth F x 1 x h x w (network resolution) of images F x 3 x H x W."""
    cfg = model.config
    out = []
    for start in range(0, len(images), batch):
        chunk = network_input(images[start:start + batch].to(_device(model)), cfg.height,
                              cfg.width)
        out.append(model.depth_net.depth(chunk).float().cpu())
    return torch.cat(out)


@torch.no_grad()
def predict_motions(model, images, batch=8):
    """Relative motions (F-1) x 4 x 4 T_next_prev of consecutive images F x 3 x H x W."""
    cfg = model.config
    out = []
    for start in range(0, len(images) - 1, batch):
        stop = min(start + batch, len(images) - 1)
        frames = network_input(images[start:stop + 1].to(_device(model)), cfg.height, cfg.width)
        out.append(model.relative_pose(frames[:-1], frames[1:], False).double().cpu())
    return torch.cat(out)


@torch.no_grad()
def predict_features(model, images, height, width):
    """Unit-norm features B x n x H x W of images B x 3 x h x w, resized to H x W."""
    cfg = model.config
    features = model.feat_net(network_input(images.to(_device(model)), cfg.height,
                                            cfg.width)).float()
    if tuple(features.shape[-2:]) != (height, width):
        features = F.normalize(resize(features, height, width), dim=1)
    return features.cpu()


def iterate_features(model, images, height, width, batch=8):
    """Yield the features n x H x W of each image, computed ``batch`` images at a time."""
    for start in range(0, len(images), batch):
        yield from predict_features(model, images[start:start + batch], height, width)


def evaluate_sequence(model, sequence, config=None, name='sequence'):
    """
    Evaluate depth, pose and features on a sequence with exact ground truth.

    :param model: DeFeatNet (evaluated in eval mode on its current device).
    :param sequence: FrameSequence (``render_sequence``): images, depths (inf: sky), poses
        T_world_camera, k_norm, moving masks.
    :return: (result dict with 'depth', 'pose' and 'features' sections, figures
        {f'depth_{name}': RGB} (a contact sheet of ``figure_frames`` frames) and the
        trajectories {'ground truth': N x 3, 'prediction': N x 3 as predicted, 'aligned':
        N x 3 after sim(3) alignment, 'scale': the alignment's scale}; both chained from the
        first frame; empty below 3 frames).
    """
    config = config or EvaluationConfig()
    model.eval()
    count, height, width = len(sequence), sequence.height, sequence.width
    depth = predict_depth(model, sequence.images, config.batch)
    depth_eval = DepthEvaluation(config.crop, config.median_scaling, config.min_depth,
                                 config.max_depth)
    for pred, gt in zip(depth, sequence.depths):
        depth_eval.add(pred, gt)
    result = {'depth': depth_eval.summary()}
    crop = garg_crop_mask(height, width) if config.crop else None
    shown = spread_indices(count, config.figure_frames)
    figures = {f'depth_{name}': contact_sheet(
        [depth_figure(sequence.images[k], sequence.depths[k, 0],
                      resize_depth(depth[k], height, width)[0], crop,
                      min_depth=config.min_depth, max_depth=config.max_depth) for k in shown],
        [f'{name}, frame {k}' for k in shown])}
    trajectories = {}
    if count >= 2:
        motions = predict_motions(model, sequence.images, config.batch)
        gt_motions = relative_motions(sequence.poses)
        gt_poses = chain_motions(gt_motions)  # the true trajectory from the first frame
        pred_poses = chain_motions(motions)
        pose = {}
        if count >= config.snippet_length:
            pose['snippet'] = snippet_ate_summary(motions, gt_motions, config.snippet_length,
                                                  config.partial_tail)
        if count >= 3:
            pose['trajectory'] = trajectory_errors(pred_poses, gt_poses, config.rpe_delta,
                                                   backend=config.trajectory_backend)
            aligned, scale = align_trajectory(pred_poses, gt_poses)
            trajectories = {'ground truth': gt_poses[:, :3, 3],
                            'prediction': pred_poses[:, :3, 3], 'aligned': aligned[:, :3, 3],
                            'scale': scale}
        result['pose'] = pose
        result['features'] = _evaluate_features(model, sequence, gt_motions, config)
    return result, figures, trajectories


def _evaluate_features(model, sequence, gt_motions, config):
    height, width = sequence.height, sequence.width
    k_pix = scale_intrinsics(sequence.k_norm, height, width)
    evaluation = FeatureEvaluation(max_anchors=config.max_anchors, seed=config.seed)
    features = iterate_features(model, sequence.images, height, width, config.batch)
    previous = next(features)
    for k, current in enumerate(features):
        pixels, valid = true_correspondences(
            sequence.depths[k], torch.from_numpy(gt_motions[k]), k_pix,
            source_depth=sequence.depths[k + 1], moving=sequence.moving[k])
        evaluation.add(previous, current, pixels, valid)
        previous = current
    try:
        return evaluation.summary()
    except ValueError as error:
        return {'error': str(error)}


def _kitti_image(root, folder, frame, camera):
    stem = Path(root) / folder / f'image_0{camera}' / 'data' / f'{frame:010d}'
    for suffix in ('.png', '.jpg'):
        if stem.with_suffix(suffix).is_file():
            return torch.from_numpy(read_rgb(stem.with_suffix(suffix))).permute(2, 0, 1) / 255.0
    raise FileNotFoundError(f'no image {stem}.png or .jpg')


def evaluate_kitti(model, root, entries, config=None):
    """
    Depth on the Eigen protocol for KITTI raw frames with ground truth from their LiDAR scans.

    :param root: KITTI raw root (``<date>/<drive>/image_02/data``, ``velodyne_points/data``,
        ``<date>/calib_*.txt``).
    :param entries: split entries with ``folder``, ``frame`` and ``side``
        (``defeat_ros.data.kitti_split.read_split``).
    :return: (result {'depth': ...}, figures {'depth_kitti': RGB}: a contact sheet of
        ``figure_frames`` entries).
    """
    config = config or EvaluationConfig()
    model.eval()
    evaluation = DepthEvaluation(config.crop, config.median_scaling, config.min_depth,
                                 config.max_depth)
    calibrations = {}
    shown = set(spread_indices(len(entries), config.figure_frames))
    columns, titles = [], []
    for index, entry in enumerate(entries):
        folder, frame, camera = entry.folder, entry.frame, RAW_CAMERAS[entry.side]
        image = _kitti_image(root, folder, frame, camera)
        date = Path(root) / Path(folder).parts[0]
        if (date, camera) not in calibrations:
            calibrations[date, camera] = read_calibration(date, camera)
        scan = Path(root) / folder / 'velodyne_points' / 'data' / f'{frame:010d}.bin'
        gt = velodyne_depth(read_velodyne(scan), calibrations[date, camera], *image.shape[-2:],
                            monodepth2_shift=config.monodepth2_shift)
        pred = predict_depth(model, image[None], 1)[0]
        evaluation.add(pred, gt)
        if index in shown:
            crop = garg_crop_mask(*gt.shape) if config.crop else None
            columns.append(depth_figure(
                image, gt, resize_depth(pred, *gt.shape)[0], crop, min_depth=config.min_depth,
                max_depth=config.max_depth))
            titles.append(f'{folder} {frame} {entry.side}')
    figures = {'depth_kitti': contact_sheet(columns, titles)} if columns else {}
    return {'depth': evaluation.summary()}, figures


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
