"""
Evaluation reports: JSON, markdown tables and PNG figures (depth, error maps, trajectories).

A result is a dict ``{'conditions': {name: {'depth': ..., 'pose': ..., 'features': ...}}, ...}``
(any section may be missing); :func:`write_report` writes ``results.json``, ``results.md`` and
one PNG per figure. Figures are drawn with OpenCV only (no matplotlib).

The figures of ``defeat-ros evaluate``, the demo and process-bag's preview are built from the
same pieces: :func:`figure_tile` (an image at a readable width, labelled, above a colour bar
strip: :func:`depth_bar` in metres, :func:`error_bar`), :func:`depth_figure` (one frame: input,
truth, prediction, error), :func:`contact_sheet` (frames side by side) and
:func:`trajectory_comparison` (trajectories as predicted and after sim(3) alignment).
"""

import json
import math
from pathlib import Path

import cv2
from defeat_ros.evaluation.depth import median
from defeat_ros.evaluation.references import benchmark, BENCHMARKS
from defeat_ros.visualisation import colourise_depth, depth_range, rgb_to_uint8
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
BACKGROUND = 24
"""Grey level of figure backgrounds, strips and gaps."""
FONT = cv2.FONT_HERSHEY_SIMPLEX
DISPLAY_WIDTH = 384
"""Narrowest image in a figure: narrower ones are enlarged (:func:`display_width`)."""
BAR_HEIGHT = 30
"""Pixels of the strip under every figure tile: a colour bar and its labels, or blank."""
RAMP_HEIGHT = 10
"""Pixels of the colour ramp at the top of a colour bar strip."""
TITLE_HEIGHT = 24
"""Pixels of a column or panel title strip."""
GAP = 4
"""Background pixels between the columns of a contact sheet and between panels."""
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


def _table(title, rows, columns, first='condition'):
    if not rows:
        return ''
    lines = [f'### {title}', '', f'| {first} | ' + ' | '.join(c[1] for c in columns) + ' |',
             '| --- |' + ' ---: |' * len(columns)]
    for name, values in rows:
        lines.append(f'| {name} | ' + ' | '.join(_format(values.get(key)) for key, _ in columns)
                     + ' |')
    return '\n'.join(lines) + '\n'


def _snippet_text(snippet):
    return f"{snippet['ate_mean']:.4f} +- {snippet['ate_std']:.4f}"


def _pose_row(pose):
    row = dict(pose.get('trajectory', {}))
    if pose.get('snippet'):
        row['snippet_ate'] = _snippet_text(pose['snippet'])
    return row


def benchmark_table(reference, own=None, title_note=''):
    """
    Markdown table of a benchmark's published numbers, with a model's row last if given.

    :param reference: a :class:`~defeat_ros.evaluation.references.Benchmark`.
    :param own: (label, the model's result section) or None.
    :param title_note: appended to the title after a semicolon.
    """
    if reference.section == 'pose':
        columns = (('snippet_ate', 'ATE-5 (m)'),)
        rows = [(f'{method} [{source}]', {'snippet_ate': _snippet_text(values)})
                for method, source, values in reference.rows]
        if own:
            own = (own[0], _pose_row(own[1]))
    else:
        columns = DEPTH_COLUMNS[:7] if reference.section == 'depth' else FEATURE_COLUMNS[:5]
        rows = [(f'{method} [{source}]', values) for method, source, values in reference.rows]
    title = f'Published: {reference.title}' + (f'; {title_note}' if title_note else '')
    return _table(title, rows + ([own] if own else []), columns, first='method')


def reference_tables(name, result, median_scaling=True):
    """
    Markdown tables of the published numbers on a condition's benchmarks, its own row last.

    :param name: the condition's name (its row's label).
    :param result: the condition's result. Its ``benchmarks`` name the published numbers
        (:data:`~defeat_ros.evaluation.references.BENCHMARKS`); ``same_data`` False marks
        them as context only (published on real data, this model on synthetic).
    :param median_scaling: whether depth was median-scaled as the published numbers are.
    :return: list of tables, one per benchmark whose section the result has.
    """
    tables = []
    for reference in map(benchmark, result.get('benchmarks', ())):
        if reference.section not in result:
            continue
        notes = []
        if reference.section == 'depth' and not median_scaling:
            notes.append('this model metric, not median-scaled')
        if not result.get('same_data', True):
            notes.append('context only: published on real data, this model on synthetic')
        tables.append(benchmark_table(reference, (f'**this model**, {name}',
                                                  result[reference.section]), '; '.join(notes)))
    return tables


def published_tables():
    """Return the markdown tables of every benchmark's published numbers (docs/training.md)."""
    return '\n'.join(benchmark_table(reference) for reference in BENCHMARKS.values())


def markdown_report(results):
    """
    Return the markdown tables of a result, one row per condition.

    Depth, pose and features, then for each condition the published numbers of its
    benchmarks beside its own (:func:`reference_tables`).
    """
    conditions = results.get('conditions', {})
    depth_rows, pose_rows, feature_rows = [], [], []
    for name, result in conditions.items():
        if 'depth' in result:
            depth_rows.append((name, result['depth']))
        if 'pose' in result:
            pose_rows.append((name, _pose_row(result['pose'])))
        if 'features' in result:
            feature_rows.append((name, result['features']))
    parts = [f"## Evaluation of {results.get('model', 'a model')}", '']
    if results.get('data'):
        parts += [f"Data: {results['data']}", '']
    median_scaling = results.get('protocol', {}).get('median_scaling', True)
    scaling = 'median-scaled' if median_scaling else 'metric: not median-scaled'
    parts.append(_table(f'Depth (Eigen protocol, {scaling}, mean over images)', depth_rows,
                        DEPTH_COLUMNS))
    parts.append(_table('Pose (ATE-5: mean +- std over 5-frame snippets; ATE/RPE: whole '
                        'trajectory after sim(3) alignment)', pose_rows, POSE_COLUMNS))
    parts.append(_table('Features (Euclidean distances; ROC-AUC of true vs false matches)',
                        feature_rows, FEATURE_COLUMNS))
    for name, result in conditions.items():
        parts += reference_tables(name, result, median_scaling)
    return '\n'.join(part for part in parts if part is not None)


def label_tile(tile, text):
    """Write ``text`` in the top-left corner of an H x W x 3 uint8 tile; return the tile."""
    tile = np.ascontiguousarray(tile)
    cv2.putText(tile, text, (6, 16), FONT, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(tile, text, (6, 16), FONT, 0.45, TEXT_COLOUR, 1, cv2.LINE_AA)
    return tile


def display_width(width, largest=None):
    """
    Return the width a ``width``-pixel wide image is shown at in a figure.

    Narrower than :data:`DISPLAY_WIDTH` (a network's 96 or 192 pixels): enlarged by a whole
    factor, so that labels and colour bars fit; then at most ``largest`` (None: no limit).
    """
    shown = int(width) * max(1, math.ceil(DISPLAY_WIDTH / width))
    return min(shown, int(largest)) if largest else shown


def figure_tile(rgb, label, width, footer=None, height=None):
    """
    One tile of a figure: an image at ``width`` pixels, labelled, above a strip.

    :param rgb: H x W x 3 uint8 RGB; enlarged pixel by pixel (nearest), shrunk by area.
    :param label: text in its top-left corner.
    :param footer: the BAR_HEIGHT x width x 3 strip under it (:func:`depth_bar`,
        :func:`error_bar`); None: a blank one, so that tiles side by side line up.
    :param height: the image's height in the tile; None: round(H * width / W) (aspect kept).
        Give the camera image's for a map at the network's size (features), which covers the
        same view at another aspect.
    :return: (height + BAR_HEIGHT) x width x 3 uint8 RGB.
    """
    rgb = np.asarray(rgb, np.uint8)
    height = height or max(1, round(rgb.shape[0] * width / rgb.shape[1]))
    if (height, width) == rgb.shape[:2]:
        rgb = rgb.copy()  # label_tile writes into it
    else:
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_NEAREST
                         if width >= rgb.shape[1] else cv2.INTER_AREA)
    if footer is None:
        footer = np.full((BAR_HEIGHT, width, 3), BACKGROUND, np.uint8)
    return np.concatenate([label_tile(rgb, label), footer], axis=0)


def colour_bar(ramp, ticks):
    """
    Return a colour bar strip: a colour ramp above tick marks and their labels.

    :param ramp: W x 3 uint8 RGB colours, left to right.
    :param ticks: (fraction of the width in [0, 1], text) pairs, most important first; a label
        that would overlap one drawn before it is left out.
    :return: BAR_HEIGHT x W x 3 uint8 RGB; the ramp fills rows 2 to 2 + RAMP_HEIGHT.
    """
    width = len(ramp)
    strip = np.full((BAR_HEIGHT, width, 3), BACKGROUND, np.uint8)
    strip[2:2 + RAMP_HEIGHT] = np.asarray(ramp, np.uint8)[None]
    taken = []
    for fraction, text in ticks:
        x = int(round(fraction * (width - 1)))
        (text_width, _), _ = cv2.getTextSize(text, FONT, 0.4, 1)
        left = int(np.clip(x - text_width // 2, 1, max(1, width - text_width - 1)))
        if any(left < right + 6 and other < left + text_width + 6 for other, right in taken):
            continue
        taken.append((left, left + text_width))
        cv2.line(strip, (x, 2 + RAMP_HEIGHT), (x, 5 + RAMP_HEIGHT), TEXT_COLOUR, 1)
        cv2.putText(strip, text, (left, BAR_HEIGHT - 5), FONT, 0.4, TEXT_COLOUR, 1,
                    cv2.LINE_AA)
    return strip


def _nice_values(low, high):
    """Round numbers (1, 2, 5 times a power of ten) strictly between low > 0 and high."""
    powers = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    return [m * 10.0 ** p for p in powers for m in (1, 2, 5) if low < m * 10.0 ** p < high]


def metres(value, digits=2):
    """Return a colour bar's depth label: ``'2.4 m'``, ``'75 m'``, ``'0.35 m'``, ``'120 m'``."""
    return f'{value:.{digits}g} m' if value < 10 ** digits else f'{value:.0f} m'


def depth_bar(width, near, far):
    """
    Return the colour bar of ``colourise_depth(depth, near, far)``, labelled in metres.

    Near (bright) on the left, far (dark) on the right, linear in inverse depth as the colour
    map is; both ends (with the digits that tell them apart) and round depths between them
    are labelled.

    :return: BAR_HEIGHT x width x 3 uint8 RGB (see :func:`colour_bar`).
    """
    near, far = float(near), float(far)
    span = 1.0 / near - 1.0 / far
    if span <= 1e-9:  # one depth everywhere
        ramp = colourise_depth(np.full((2, width), near, np.float32), near, near)[0]
        return colour_bar(ramp, [(0.5, metres(near))])
    inverse = 1.0 / near - np.linspace(0.0, 1.0, width) * span
    ramp = colourise_depth(np.tile(1.0 / inverse, (2, 1)).astype(np.float32), near, far)[0]
    digits = next((d for d in range(2, 6) if metres(near, d) != metres(far, d)), 6)
    ticks = [(0.0, metres(near, digits)), (1.0, metres(far, digits))]
    ticks += [((1.0 / near - 1.0 / value) / span, metres(value))
              for value in _nice_values(near, far)]
    return colour_bar(ramp, ticks)


def error_bar(width, max_error):
    """Return the colour bar of :func:`error_map`: abs rel error 0 to ``max_error`` and beyond."""
    ramp = _turbo(np.linspace(0.0, 1.0, width)[None])[0]
    return colour_bar(ramp, [(0.0, '0'), (1.0, f'{max_error:g}+'),
                             (0.5, f'{max_error / 2:g} abs rel')])


def title_strip(text, width):
    """Return a TITLE_HEIGHT x width x 3 strip with ``text``, heading a column or a panel."""
    strip = np.full((TITLE_HEIGHT, width, 3), BACKGROUND, np.uint8)
    cv2.putText(strip, text, (6, TITLE_HEIGHT - 7), FONT, 0.5, TEXT_COLOUR, 1, cv2.LINE_AA)
    return strip


def join_tiles(tiles, axis, gap=0):
    """
    Put H x W x 3 images one below the other (``axis`` 0) or side by side (1).

    Each is padded with the background to the largest extent across, and ``gap`` background
    pixels separate them.
    """
    across = max(tile.shape[1 - axis] for tile in tiles)
    parts = []
    for tile in tiles:
        missing = across - tile.shape[1 - axis]
        if missing:
            pad = [(0, 0), (0, 0), (0, 0)]
            pad[1 - axis] = (0, missing)
            tile = np.pad(tile, pad, constant_values=BACKGROUND)
        if parts and gap:
            shape = [across, across, 3]
            shape[axis] = gap
            parts.append(np.full(shape, BACKGROUND, np.uint8))
        parts.append(tile)
    return np.ascontiguousarray(np.concatenate(parts, axis=axis))


def contact_sheet(columns, titles=()):
    """
    Figure columns side by side (one :func:`depth_figure` per frame), each under its title.

    :param columns: H_i x W_i x 3 uint8 RGB images.
    :param titles: a title per column (:func:`title_strip`); none: no title strips.
    :return: uint8 RGB: the columns GAP pixels apart, padded to the tallest.
    """
    if titles:
        columns = [join_tiles([title_strip(title, column.shape[1]), column], 0)
                   for title, column in zip(titles, columns)]
    return join_tiles(list(columns), 1, GAP)


def spread_indices(count, wanted):
    """
    Return up to ``wanted`` indices of ``count`` items spread evenly over them, ascending.

    The middles of ``wanted`` equal parts: one index is the middle item; ``count`` or fewer
    items are all taken.
    """
    if count <= wanted:
        return list(range(count))
    return sorted({int((part + 0.5) * count / wanted) for part in range(wanted)})


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


def _turbo(scaled):
    """Values in [0, 1] (H x W) -> H x W x 3 uint8 RGB through the turbo colour map."""
    coloured = cv2.applyColorMap((np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8),
                                 cv2.COLORMAP_TURBO)
    return cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB)


def error_map(prediction, ground_truth, max_error=0.5, min_depth=1e-3, max_depth=80.0,
              spread=False):
    """
    Absolute relative error |pred - gt| / gt as an H x W x 3 uint8 RGB image.

    The turbo colour map spans 0 (blue) to ``max_error`` (red) and beyond (its colour bar:
    :func:`error_bar`); pixels without ground truth are black. ``spread`` widens isolated
    samples (LiDAR) to 3 x 3 blocks for display, the largest error winning.
    """
    pred, gt = _array(prediction), _array(ground_truth)
    valid = np.isfinite(gt) & (gt > min_depth) & (gt < max_depth) & np.isfinite(pred)
    error = np.full(gt.shape, -1.0, np.float32)
    error[valid] = np.abs(pred[valid] - gt[valid]) / gt[valid]
    if spread:
        error = cv2.dilate(error, np.ones((3, 3), np.uint8))
        valid = error >= 0
    coloured = _turbo(error / max_error)
    coloured[~valid] = 0
    return coloured


def depth_figure(image, ground_truth, prediction, mask=None, max_error=0.5,
                 min_depth=1e-3, max_depth=80.0):
    """
    One frame as a figure column: image, true depth, median-scaled prediction and its error.

    Each is a :func:`figure_tile` at :func:`display_width`; true and predicted depth share
    the colour range of the truth, stated in metres by their :func:`depth_bar`, and the error
    map has its :func:`error_bar`. :func:`contact_sheet` puts several frames side by side.

    :param image: 3 x H x W RGB in [0, 1] (tensor), or H x W x 3 uint8 RGB.
    :param ground_truth: H x W true depth (0 / inf where unknown; sparse LiDAR is widened for
        display only).
    :param prediction: H x W predicted depth at the same resolution (metres, any scale).
    :param mask: optional H x W bool region evaluated (e.g. Garg's crop): the median scaling
        uses it, and the error map is black outside it.
    :return: 4 (H' + BAR_HEIGHT) x W' x 3 uint8 RGB, W' = display_width(W) and
        H' = round(H W' / W).
    """
    gt = _array(ground_truth)
    pred = _array(prediction).astype(np.float64)
    known = np.isfinite(gt) & (gt > min_depth) & (gt < max_depth)
    valid = known & _array(mask).astype(bool) if mask is not None else known
    if valid.any():
        ratio = median(torch.from_numpy(gt[valid].astype(np.float64))) / median(
            torch.from_numpy(pred[valid]))
        pred = np.clip(pred * float(ratio), min_depth, max_depth)
        shown_range = float(gt[known].min()), float(gt[known].max())
    else:
        shown_range = depth_range(pred)
    low, high = shown_range or (None, None)
    sparse = known.mean() < 0.3
    shown_gt = np.where(known, gt, 0.0)
    shown_gt = _spread_sparse(shown_gt) if sparse else shown_gt
    error_gt = np.where(valid, gt, 0.0)
    rgb = image if isinstance(image, np.ndarray) and image.dtype == np.uint8 \
        else rgb_to_uint8(image)
    width = display_width(gt.shape[1])
    bar = depth_bar(width, low, high) if shown_range else None
    tiles = [figure_tile(rgb, 'input', width),
             figure_tile(colourise_depth(shown_gt, low, high), 'ground truth', width, bar),
             figure_tile(colourise_depth(pred, low, high), 'prediction (median-scaled)', width,
                         bar),
             figure_tile(error_map(pred, error_gt, max_error, min_depth, max_depth, sparse),
                         'abs rel error', width, error_bar(width, max_error))]
    return join_tiles(tiles, 0)


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


def alignment_label(label, scale):
    """
    Legend entry of a sim(3)-aligned prediction, with the scale the alignment applied.

    ``scale`` multiplies the predicted positions onto the true ones: 15 means the prediction
    went a fifteenth of the true distance.
    """
    return f'{label}, scaled x{scale:.3g}'


def trajectory_comparison(truths, predictions, size=560):
    """
    Trajectories as predicted (metric, unaligned) beside the same after sim(3) alignment.

    Two :func:`trajectory_figure` panels, GAP pixels apart. On the left the predictions are
    drawn as they came out, from the truth's starting pose, so that a wrong scale shows as a
    path of the wrong length; on the right each is aligned to the truth (Umeyama: rotation,
    translation and scale), its legend entry stating the scale (:func:`alignment_label`).

    :param truths: (label, N x 3 positions) of ground truth, drawn in both panels (green).
    :param predictions: (label, positions as predicted N x 3, aligned positions N x 3, scale)
        per prediction. Positions are in trajectory_figure's axes; unaligned ones start where
        the truth starts.
    :return: (TITLE_HEIGHT + size) x (2 size + GAP) x 3 uint8 RGB, a title above each panel.
    """
    truths = list(truths)
    panels = [('as predicted: metric, not aligned (all start at the origin)',
               [(label, raw) for label, raw, _, _ in predictions]),
              ('after sim(3) alignment to the ground truth (scale fitted)',
               [(alignment_label(label, scale), fitted)
                for label, _, fitted, scale in predictions])]
    return join_tiles([join_tiles([title_strip(title, size),
                                   trajectory_figure(truths + lines, size)], 0)
                       for title, lines in panels], 1, GAP)


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
