"""Depth, pose and features on a synthetic drive, whose ground truth is exact."""

from defeat_ros.evaluation.depth import DepthEvaluation, garg_crop_mask, resize_depth
from defeat_ros.evaluation.features import FeatureEvaluation, true_correspondences
from defeat_ros.evaluation.inference import (iterate_features, predict_depth,
                                             predict_motions, refine_motions)
from defeat_ros.evaluation.pose import (align_trajectory, chain_motions, relative_motions,
                                        snippet_ate_summary, trajectory_errors)
from defeat_ros.evaluation.protocol import EvaluationConfig
from defeat_ros.evaluation.report import contact_sheet, depth_figure, spread_indices
from defeat_ros.geometry import scale_intrinsics
import torch


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
        if config.pose_refinement == 'direct':
            motions = refine_motions(motions, sequence.images, depth, sequence.k_norm.cpu(),
                                     model.config.max_depth)
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
        features = iterate_features(model, sequence.images, sequence.height, sequence.width,
                                    config.batch)
        result['features'] = evaluate_features(features, sequence, config)
    return result, figures, trajectories


def evaluate_features(features, sequence, config=None):
    """
    ROC-AUC summary of dense features against the sequence's exact correspondences.

    :param features: iterable of the features n x H x W of every frame of ``sequence``, in
        order, at the sequence's size (from a model or any backend).
    :param sequence: FrameSequence with depths, poses, k_norm and moving masks.
    :return: :func:`~defeat_ros.evaluation.features.feature_summary`'s dict, or {'error': ...}
        when no correspondence could be evaluated.
    """
    config = config or EvaluationConfig()
    gt_motions = relative_motions(sequence.poses)
    k_pix = scale_intrinsics(sequence.k_norm, sequence.height, sequence.width)
    evaluation = FeatureEvaluation(max_anchors=config.max_anchors, seed=config.seed)
    features = iter(features)
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
