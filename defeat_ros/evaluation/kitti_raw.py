"""
Depth (the Eigen protocol) and dense features (DeFeat-Net's) on KITTI raw frames with LiDAR.

Depth: each split entry's prediction against its projected Velodyne scan
(:mod:`defeat_ros.evaluation.velodyne`).

Features: each entry whose next frame (``frame + 1``, same drive and camera) has an image and
both have oxts packets gives a pair: target = the entry's frame, source = the next one. True
correspondences come from the target's LiDAR depth (camera z at the pixel each point falls in,
never Monodepth2's shifted ground truth) and the camera's motion from the oxts poses
(:func:`~defeat_ros.data.kitti_oxts.oxts_poses` of the whole drive, as the raw devkit computes
them, through ``T_cam_imu`` from the calibration:
:func:`~defeat_ros.evaluation.velodyne.raw_camera_from_imu`). Only pixels with a LiDAR point
are anchors; the point is taken at its pixel's centre (at most half a pixel from where it
projects). There is no occlusion test: the source's own scan rarely has a point where a target
point lands (the lasers sweep other pixels after the car moves), so testing only where both
have one would keep few anchors and bias them, while between consecutive frames (about 1 m of
forward motion) occlusions are rare; points on moving objects are kept too (KITTI raw marks
none). Features of both images are predicted at the image's resolution and pooled in one
:class:`~defeat_ros.evaluation.features.FeatureEvaluation` (global and local negatives,
ROC-AUC), as on synthetic drives.
"""

from collections import Counter
import logging
from pathlib import Path

from defeat_ros.data.image_ops import read_rgb, rgb_tensor
from defeat_ros.data.kitti_calib import RAW_CAMERAS
from defeat_ros.data.kitti_oxts import camera_motions, oxts_poses, read_oxts_packets
from defeat_ros.evaluation.depth import DepthEvaluation, garg_crop_mask, resize_depth
from defeat_ros.evaluation.features import FeatureEvaluation, true_correspondences
from defeat_ros.evaluation.inference import predict_depth, predict_features
from defeat_ros.evaluation.protocol import EvaluationConfig
from defeat_ros.evaluation.report import contact_sheet, depth_figure, spread_indices
from defeat_ros.evaluation.velodyne import (raw_camera_from_imu, read_calibration,
                                            read_velodyne, velodyne_depth)
from defeat_ros.geometry import scale_intrinsics
import torch

LOG = logging.getLogger(__name__)


def _image_stem(root, folder, frame, camera):
    return Path(root) / folder / f'image_0{camera}' / 'data' / f'{frame:010d}'


def _image_path(root, folder, frame, camera):
    stem = _image_stem(root, folder, frame, camera)
    for suffix in ('.png', '.jpg'):
        if stem.with_suffix(suffix).is_file():
            return stem.with_suffix(suffix)
    return None


def _kitti_image(root, folder, frame, camera):
    path = _image_path(root, folder, frame, camera)
    if path is None:
        raise FileNotFoundError(f'no image {_image_stem(root, folder, frame, camera)}.png or '
                                '.jpg')
    return rgb_tensor(read_rgb(path))


class _RawDrives:
    """Calibrations of date folders and oxts poses of drives, each read once."""

    def __init__(self, root):
        self.root = Path(root)
        self.calibrations, self.camera_imu, self.poses = {}, {}, {}

    def calibration(self, folder, camera):
        date = self.root / Path(folder).parts[0]
        if (date, camera) not in self.calibrations:
            self.calibrations[date, camera] = read_calibration(date, camera)
        return self.calibrations[date, camera]

    def t_camera_imu(self, folder, camera):
        date = self.root / Path(folder).parts[0]
        if (date, camera) not in self.camera_imu:
            try:
                self.camera_imu[date, camera] = raw_camera_from_imu(
                    date, camera, self.calibration(folder, camera))
            except FileNotFoundError:
                self.camera_imu[date, camera] = None
        return self.camera_imu[date, camera]

    def imu_poses(self, folder):
        """{packet number: T_world_imu} of a drive (the devkit's, from its first packet)."""
        if folder not in self.poses:
            packets = read_oxts_packets(self.root / folder / 'oxts' / 'data')
            self.poses[folder] = {} if packets is None else dict(
                zip(packets[0].tolist(), oxts_poses(packets[1])))
        return self.poses[folder]

    def next_frame(self, folder, frame, camera):
        """
        Return (source image path, 4 x 4 T_cam(frame+1)_cam(frame)), or (None, why not).

        The reasons are short and shared by all entries, so that they can be counted.
        """
        source = _image_path(self.root, folder, frame + 1, camera)
        if source is None:
            return None, 'no next frame image'
        poses = self.imu_poses(folder)
        if not poses:
            return None, 'no oxts packets in the drive'
        if frame not in poses or frame + 1 not in poses:
            return None, 'no oxts packet for the frame or the next'
        t_camera_imu = self.t_camera_imu(folder, camera)
        if t_camera_imu is None:
            return None, 'no calib_imu_to_velo.txt'
        motion = camera_motions([poses[frame], poses[frame + 1]], t_camera_imu)[0]
        return source, torch.from_numpy(motion)


def evaluate_kitti(model, root, entries, config=None):
    """
    Depth (Eigen) and features (DeFeat-Net) on KITTI raw frames with LiDAR ground truth.

    See the module docstring for the feature protocol.

    :param root: KITTI raw root (``<date>/<drive>/image_02/data``, ``velodyne_points/data``,
        ``oxts/data``, ``<date>/calib_*.txt``).
    :param entries: split entries with ``folder``, ``frame`` and ``side``
        (``defeat_ros.data.kitti_split.read_split``).
    :return: (result {'depth': ..., 'features': ...}, figures {'depth_kitti': RGB}: a contact
        sheet of ``figure_frames`` entries). 'features' holds the pooled summary of
        :class:`~defeat_ros.evaluation.features.FeatureEvaluation` (distances, AUCs, anchors)
        when some pair had true correspondences, else ``{'error': why}`` (also logged), e.g.
        when the drives have no oxts packets or the entries no next frame.
    """
    config = config or EvaluationConfig()
    model.eval()
    evaluation = DepthEvaluation(config.crop, config.median_scaling, config.min_depth,
                                 config.max_depth)
    features = FeatureEvaluation(max_anchors=config.max_anchors, seed=config.seed)
    drives = _RawDrives(root)
    skipped, pairs = Counter(), 0
    shown = set(spread_indices(len(entries), config.figure_frames))
    columns, titles = [], []
    for index, entry in enumerate(entries):
        folder, frame, camera = entry.folder, entry.frame, RAW_CAMERAS[entry.side]
        image = _kitti_image(root, folder, frame, camera)
        height, width = image.shape[-2:]
        calibration = drives.calibration(folder, camera)
        scan = Path(root) / folder / 'velodyne_points' / 'data' / f'{frame:010d}.bin'
        points = read_velodyne(scan)
        gt = velodyne_depth(points, calibration, height, width,
                            monodepth2_shift=config.monodepth2_shift)
        pred = predict_depth(model, image[None], 1)[0]
        evaluation.add(pred, gt)
        if index in shown:
            crop = garg_crop_mask(*gt.shape) if config.crop else None
            columns.append(depth_figure(
                image, gt, resize_depth(pred, *gt.shape)[0], crop, min_depth=config.min_depth,
                max_depth=config.max_depth))
            titles.append(f'{folder} {frame} {entry.side}')
        source, motion = drives.next_frame(folder, frame, camera)
        if source is None:
            skipped[motion] += 1
            continue
        lidar = (velodyne_depth(points, calibration, height, width)
                 if config.monodepth2_shift else gt)
        k_pix = scale_intrinsics(calibration.k_norm(height, width), height, width)
        pixels, valid = true_correspondences(lidar, motion, k_pix)
        both = predict_features(model, torch.stack([image, rgb_tensor(read_rgb(source))]),
                                height, width)
        features.add(both[0], both[1], pixels, valid)
        pairs += 1
    figures = {'depth_kitti': contact_sheet(columns, titles)} if columns else {}
    return {'depth': evaluation.summary(),
            'features': _feature_summary(features, pairs, len(entries), skipped)}, figures


def _feature_summary(features, pairs, count, skipped):
    reasons = '; '.join(f'{number} x {reason}' for reason, number in sorted(skipped.items()))
    try:
        summary = features.summary()
    except ValueError as error:
        why = (f'no frame pair could be evaluated ({reasons})' if not pairs
               else f'{error} in {pairs} frame pairs')
        LOG.warning('KITTI features: %s', why)
        return {'error': why}
    LOG.info('KITTI features: %d frame pairs of %d entries%s', pairs, count,
             f', skipped: {reasons}' if reasons else '')
    return summary
