"""
Evaluation reports: JSON, markdown tables and PNG figures (depth, error maps, trajectories).

A result is a dict ``{'conditions': {name: {'depth': ..., 'pose': ..., 'features': ...}}, ...}``
(any section may be missing); :func:`write_report` writes ``results.json``, ``results.md`` and
one PNG per figure. Figures are drawn with OpenCV only (no matplotlib).
"""

import json
import math
from pathlib import Path

import cv2
from defeat_ros.evaluation.depth import median
from defeat_ros.visualisation import colourise_depth, rgb_to_uint8
import numpy as np
import torch

DEPTH_COLUMNS = (('abs_rel', 'AbsRel'), ('sq_rel', 'SqRel'), ('rmse', 'RMSE'),
                 ('rmse_log', 'RMSE log'), ('a1', 'd<1.25'), ('a2', 'd<1.25^2'),
                 ('a3', 'd<1.25^3'), ('ratio_median', 'scale med'), ('ratio_std', 'scale std'),
                 ('images', 'images'))
POSE_COLUMNS = (('snippet_ate', 'ATE-5 (m)'), ('ate_rmse', 'ATE RMSE (m)'),
                ('rpe_trans_rmse', 'RPE trans (m)'), ('rpe_rot_rmse_deg', 'RPE rot (deg)'),
                ('scale', 'sim(3) scale'), ('frames', 'frames'))
FEATURE_COLUMNS = (('positive_distance', 'pos dist'),
                   ('global_negative_distance', 'neg dist global'),
                   ('local_negative_distance', 'neg dist local'), ('global_auc', 'AUC global'),
                   ('local_auc', 'AUC local'), ('anchors', 'anchors'))

TEXT_COLOUR = (230, 230, 230)
TRAJECTORY_COLOURS = ((80, 220, 80), (240, 80, 60), (80, 160, 255), (250, 200, 40),
                      (220, 90, 220), (60, 220, 220))
"""RGB line colours in order: ground truth first, then predictions."""


def _format(value):
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return '-'
    if isinstance(value, int):
        return str(value)
    return f'{value:.3f}' if abs(value) < 1000 else f'{value:.1f}'


def _table(title, rows, columns):
    if not rows:
        return ''
    lines = [f'### {title}', '', '| condition | ' + ' | '.join(c[1] for c in columns) + ' |',
             '| --- |' + ' ---: |' * len(columns)]
    for name, values in rows:
        lines.append(f'| {name} | ' + ' | '.join(_format(values.get(key)) for key, _ in columns)
                     + ' |')
    return '\n'.join(lines) + '\n'


def markdown_report(results):
    """Return the markdown tables (depth, pose, features) of a result, one row per condition."""
    conditions = results.get('conditions', {})
    depth_rows, pose_rows, feature_rows = [], [], []
    for name, result in conditions.items():
        if 'depth' in result:
            depth_rows.append((name, result['depth']))
        if 'pose' in result:
            pose = dict(result['pose'].get('trajectory', {}))
            snippet = result['pose'].get('snippet')
            if snippet:
                pose['snippet_ate'] = f"{snippet['ate_mean']:.4f} +- {snippet['ate_std']:.4f}"
            pose_rows.append((name, pose))
        if 'features' in result:
            feature_rows.append((name, result['features']))
    parts = [f"## Evaluation of {results.get('model', 'a model')}", '']
    if results.get('data'):
        parts += [f"Data: {results['data']}", '']
    parts.append(_table('Depth (Eigen protocol, median-scaled, mean over images)', depth_rows,
                        DEPTH_COLUMNS))
    parts.append(_table('Pose (ATE-5: mean +- std over 5-frame snippets; ATE/RPE: whole '
                        'trajectory after sim(3) alignment)', pose_rows, POSE_COLUMNS))
    parts.append(_table('Features (Euclidean distances; ROC-AUC of true vs false matches)',
                        feature_rows, FEATURE_COLUMNS))
    return '\n'.join(part for part in parts if part is not None)


def label_tile(tile, text):
    """Write ``text`` in the top-left corner of an H x W x 3 uint8 tile; return the tile."""
    tile = np.ascontiguousarray(tile)
    cv2.putText(tile, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(tile, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, TEXT_COLOUR, 1,
                cv2.LINE_AA)
    return tile


def _array(depth):
    if hasattr(depth, 'detach'):
        depth = depth.detach().cpu().float().numpy()
    depth = np.asarray(depth, dtype=np.float32)
    return depth.reshape(depth.shape[-2:])  # drop leading singleton dimensions


def _spread_sparse(depth):
    """Widen isolated depth samples (LiDAR) to 3 x 3 blocks for display, nearest winning."""
    inverse = np.where(np.isfinite(depth) & (depth > 0), 1.0 / np.maximum(depth, 1e-9), 0.0)
    inverse = cv2.dilate(inverse.astype(np.float32), np.ones((3, 3), np.uint8))
    return np.where(inverse > 0, 1.0 / np.maximum(inverse, 1e-9), 0.0)


def error_map(prediction, ground_truth, max_error=0.5, min_depth=1e-3, max_depth=80.0,
              spread=False):
    """
    Absolute relative error |pred - gt| / gt as an H x W x 3 uint8 RGB image.

    The turbo colour map spans 0 (blue) to ``max_error`` (red) and beyond; pixels without
    ground truth are black. ``spread`` widens isolated samples (LiDAR) to 3 x 3 blocks for
    display, the largest error winning.
    """
    pred, gt = _array(prediction), _array(ground_truth)
    valid = np.isfinite(gt) & (gt > min_depth) & (gt < max_depth) & np.isfinite(pred)
    error = np.full(gt.shape, -1.0, np.float32)
    error[valid] = np.abs(pred[valid] - gt[valid]) / gt[valid]
    if spread:
        error = cv2.dilate(error, np.ones((3, 3), np.uint8))
        valid = error >= 0
    scaled = np.clip(error / max_error, 0.0, 1.0)
    coloured = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_TURBO)
    coloured = cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB)
    coloured[~valid] = 0
    return coloured


def depth_figure(image, ground_truth, prediction, mask=None, max_error=0.5,
                 min_depth=1e-3, max_depth=80.0):
    """
    Stack image, true depth, median-scaled prediction and its error map (H x W each).

    :param image: 3 x H x W RGB in [0, 1] (tensor).
    :param ground_truth: H x W true depth (0 / inf where unknown; sparse LiDAR is widened for
        display only).
    :param prediction: H x W predicted depth at the same resolution (metres, any scale).
    :param mask: optional H x W bool region evaluated (e.g. Garg's crop): the median scaling
        uses it, and the error map is black outside it.
    :return: 4H x W x 3 uint8 RGB.
    """
    gt = _array(ground_truth)
    pred = _array(prediction).astype(np.float64)
    known = np.isfinite(gt) & (gt > min_depth) & (gt < max_depth)
    valid = known & _array(mask).astype(bool) if mask is not None else known
    if valid.any():
        ratio = median(torch.from_numpy(gt[valid].astype(np.float64))) / median(
            torch.from_numpy(pred[valid]))
        pred = np.clip(pred * float(ratio), min_depth, max_depth)
        low, high = float(gt[known].min()), float(gt[known].max())
    else:
        low, high = None, None
    sparse = known.mean() < 0.3
    shown_gt = np.where(known, gt, 0.0)
    shown_gt = _spread_sparse(shown_gt) if sparse else shown_gt
    error_gt = np.where(valid, gt, 0.0)
    tiles = [label_tile(rgb_to_uint8(image), 'input'),
             label_tile(colourise_depth(shown_gt, low, high), 'ground truth'),
             label_tile(colourise_depth(pred, low, high), 'prediction (median-scaled)'),
             label_tile(error_map(pred, error_gt, max_error, min_depth, max_depth, sparse),
                        f'abs rel error (0 to {max_error})')]
    return np.ascontiguousarray(np.concatenate(tiles, axis=0))


def _nice_step(span):
    raw = max(span, 1e-6) / 6.0
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def trajectory_figure(trajectories, size=640, margin=40, title=None):
    """
    Draw trajectories seen from above (x to the right, forward z up) with OpenCV.

    :param trajectories: list of (label, positions N x 3 in an optical-style frame where y
        points down and x-z is the ground plane) drawn in order: the first one (ground truth)
        green, then red, blue, ...
    :param size: image width and height in pixels.
    :param title: optional text at the bottom.
    :return: size x size x 3 uint8 RGB.
    """
    canvas = np.full((size, size, 3), 24, np.uint8)
    points = [np.asarray(p, dtype=np.float64)[:, [0, 2]] for _, p in trajectories]
    stacked = np.concatenate(points) if points else np.zeros((1, 2))
    low, high = stacked.min(axis=0), stacked.max(axis=0)
    span = float(max(high - low)) or 1.0
    centre = (low + high) / 2.0
    scale = (size - 2 * margin) / span

    def to_pixel(xz):
        u = (xz[:, 0] - centre[0]) * scale + size / 2.0
        v = size / 2.0 - (xz[:, 1] - centre[1]) * scale
        return np.stack([u, v], axis=1)

    step = _nice_step(span)
    for axis in (0, 1):
        half = size / 2.0 / scale
        start = math.floor((centre[axis] - half) / step) * step
        value = start
        while value <= centre[axis] + half:
            line = np.array([[value, centre[1] - half], [value, centre[1] + half]]) if axis == 0 \
                else np.array([[centre[0] - half, value], [centre[0] + half, value]])
            a, b = to_pixel(line).round().astype(int)
            cv2.line(canvas, tuple(int(c) for c in a), tuple(int(c) for c in b), (48, 48, 48), 1)
            value += step
    for index, ((label, _), xz) in enumerate(zip(trajectories, points)):
        colour = TRAJECTORY_COLOURS[index % len(TRAJECTORY_COLOURS)]
        pixels = np.round(to_pixel(xz) * 16).astype(np.int32)  # 4 fractional bits
        cv2.polylines(canvas, [pixels.reshape(-1, 1, 2)], False, colour, 2, cv2.LINE_AA, 4)
        start = tuple(int(c) for c in np.round(to_pixel(xz[:1])[0]))
        cv2.circle(canvas, start, 5, colour, 1, cv2.LINE_AA)
        y = 22 + 20 * index
        cv2.line(canvas, (10, y - 4), (34, y - 4), colour, 2, cv2.LINE_AA)
        cv2.putText(canvas, label, (40, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, TEXT_COLOUR, 1,
                    cv2.LINE_AA)
    cv2.putText(canvas, f'grid {step:g} m, top-down (x right, forward up), o = start',
                (10, size - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, TEXT_COLOUR, 1, cv2.LINE_AA)
    if title:
        cv2.putText(canvas, title, (10, size - 30), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    TEXT_COLOUR, 1, cv2.LINE_AA)
    return canvas


def write_png(path, rgb):
    """Write an H x W x 3 uint8 RGB array as PNG; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)):
        raise OSError(f'could not write {path}')
    return path


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.generic, torch.Tensor)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_report(results, out, figures=None):
    """
    Write ``results.json``, ``results.md`` and ``<name>.png`` per figure into ``out``.

    :param results: result dict (see the module docstring); non-finite floats become null.
    :param figures: optional {name: H x W x 3 uint8 RGB}.
    :return: dict of written paths: ``json``, ``markdown`` and ``figures`` (list).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / 'results.json'
    json_path.write_text(json.dumps(_jsonable(results), indent=2, sort_keys=True) + '\n')
    markdown_path = out / 'results.md'
    markdown_path.write_text(markdown_report(results))
    written = [write_png(out / f'{name}.png', image) for name, image in (figures or {}).items()]
    return {'json': json_path, 'markdown': markdown_path, 'figures': written}
