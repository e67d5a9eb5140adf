"""Depth on KITTI raw frames (the Eigen protocol) against their projected LiDAR scans."""

from pathlib import Path

from defeat_ros.data.image_ops import read_rgb
from defeat_ros.data.kitti_calib import RAW_CAMERAS
from defeat_ros.evaluation.depth import DepthEvaluation, garg_crop_mask, resize_depth
from defeat_ros.evaluation.inference import predict_depth
from defeat_ros.evaluation.protocol import EvaluationConfig
from defeat_ros.evaluation.report import contact_sheet, depth_figure, spread_indices
from defeat_ros.evaluation.velodyne import read_calibration, read_velodyne, velodyne_depth
import torch


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
