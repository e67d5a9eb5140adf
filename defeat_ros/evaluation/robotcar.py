"""
Depth on Oxford RobotCar image folders (day and night runs) against their LiDAR ground truth.

DeFeat-Net's main table scores depth on RobotCar day and night frames. Each evaluated frame
is read as the training loader reads it (:class:`~defeat_ros.data.robotcar.RobotCarFolder`:
demosaiced, undistorted with the SDK table, cropped by ``crop``, e.g. the car's bonnet), its
depth predicted, and the prediction scored on the seven Eigen metrics against the sparse depth
of the run's laser scans projected into the same cropped image
(:class:`~defeat_ros.evaluation.robotcar_lidar.LidarGroundTruth`, the SDK's
``build_pointcloud`` and ``project_laser_into_camera`` conventions).

Garg's crop is specific to KITTI's image geometry and is never applied here, whatever
``EvaluationConfig.crop`` says; the region evaluated is the loader's crop. Median scaling and
the depth range follow the :class:`~defeat_ros.evaluation.protocol.EvaluationConfig`.
"""

from pathlib import Path

from defeat_ros.data.image_ops import rgb_tensor
from defeat_ros.data.robotcar import RobotCarConfig, RobotCarFolder
from defeat_ros.evaluation.depth import DepthEvaluation, resize_depth
from defeat_ros.evaluation.inference import predict_depth
from defeat_ros.evaluation.protocol import EvaluationConfig
from defeat_ros.evaluation.report import contact_sheet, depth_figure, spread_indices
from defeat_ros.evaluation.robotcar_lidar import LidarGroundTruth
import torch


def frame_indices(count, frames=None):
    """
    Return the frames of a folder to evaluate.

    :param count: frames in the folder.
    :param frames: None: all; an int n: n frames spread evenly over the folder
        (:func:`~defeat_ros.evaluation.report.spread_indices`); a sequence: those indices.
    :return: ascending list of indices.
    :raises ValueError: for an index outside the folder or a count below 1.
    """
    if frames is None:
        return list(range(count))
    if isinstance(frames, int):
        if frames < 1:
            raise ValueError(f'frames must be at least 1, got {frames}')
        return spread_indices(count, frames)
    indices = sorted({int(index) for index in frames})
    if indices and not 0 <= indices[0] <= indices[-1] < count:
        raise ValueError(f'frame indices must be in 0..{count - 1}, got {indices}')
    if not indices:
        raise ValueError('no frames to evaluate')
    return indices


def evaluate_robotcar(model, folder, config=None, models_dir=None, extrinsics_dir=None,
                      name='robotcar', frames=None, camera=None, lidar=None):
    """
    Depth of a RobotCar image folder against ground truth from the run's laser scans.

    :param model: DeFeatNet (evaluated in eval mode on its current device).
    :param folder: the image folder, ``<run>/stereo/centre`` (a day or a night run).
    :param config: an :class:`EvaluationConfig` (its ``crop`` is ignored: no Garg crop).
    :param models_dir: the SDK's camera models; None: ``camera.models_dir``.
    :param extrinsics_dir: the SDK's extrinsics; None: ``extrinsics`` beside ``models_dir``
        (the SDK's layout).
    :param name: the condition's name, for the figure (``depth_<name>``) and titles.
    :param frames: which frames (:func:`frame_indices`): None all, an int n spread evenly, or
        indices.
    :param camera: a :class:`~defeat_ros.data.robotcar.RobotCarConfig` (or mapping) for how
        frames are stored and cropped (``undistort``, ``crop``, ``camera_model``,
        ``bayer_pattern``, ``stationary``); its ``folders`` are not used.
    :param lidar: a :class:`~defeat_ros.evaluation.robotcar_lidar.LidarConfig` (or mapping):
        laser, pose source and time window.
    :return: (result {'depth': the :class:`DepthEvaluation` summary}, figures
        {f'depth_{name}': RGB contact sheet of ``config.figure_frames`` frames}).
    """
    config = config or EvaluationConfig()
    if isinstance(camera, dict):
        camera = RobotCarConfig.from_dict(camera)
    camera = camera or RobotCarConfig()
    if models_dir is not None:
        camera = RobotCarConfig.from_dict(dict(camera.to_dict(), models_dir=str(models_dir)))
    if extrinsics_dir is None:
        extrinsics_dir = Path(camera.models_dir).parent / 'extrinsics'
    source = RobotCarFolder(folder, camera)
    size = source.image(0).shape[:2]
    crop = source.crop
    full = (size[0] + crop.top + crop.bottom, size[1] + crop.left + crop.right)
    ground_truth = LidarGroundTruth(folder, camera.models_dir, extrinsics_dir, full, lidar,
                                    camera.camera_model,
                                    (crop.top, crop.bottom, crop.left, crop.right))
    model.eval()
    evaluation = DepthEvaluation(False, config.median_scaling, config.min_depth,
                                 config.max_depth)
    indices = frame_indices(source.count, frames)
    shown = {indices[k] for k in spread_indices(len(indices), config.figure_frames)}
    columns, titles = [], []
    for start in range(0, len(indices), config.batch):
        chunk = indices[start:start + config.batch]
        images = torch.stack([rgb_tensor(source.image(index)) for index in chunk])
        depths = predict_depth(model, images, config.batch)
        for index, image, pred in zip(chunk, images, depths):
            gt = ground_truth(source.times[index])
            try:
                evaluation.add(pred, gt)
            except ValueError as error:
                raise ValueError(f'{source.frame_name(index)}: {error} (no laser point within '
                                 f'{config.min_depth}..{config.max_depth} m)') from None
            if index in shown:
                columns.append(depth_figure(
                    image, gt, resize_depth(pred, *gt.shape)[0], None,
                    min_depth=config.min_depth, max_depth=config.max_depth))
                titles.append(f'{name} {source.times[index]}')
    figures = {f'depth_{name}': contact_sheet(columns, titles)} if columns else {}
    return {'depth': evaluation.summary()}, figures
