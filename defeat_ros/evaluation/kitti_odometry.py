"""
Visual odometry on KITTI odometry sequences (SfMLearner's and Monodepth2's protocol).

For each sequence the model predicts the motion between every pair of consecutive left colour
frames (``image_2``, read by :class:`~defeat_ros.data.kitti_layout.KittiDrive` at any size it
accepts), and the motions are scored against ``poses/<NN>.txt`` turned into camera 2's poses
(:func:`~defeat_ros.data.kitti_odometry.camera_poses`: the camera-0-to-camera-2 offset):

* snippet ATE (:func:`~defeat_ros.evaluation.pose.snippet_ate_summary`): every run of
  ``snippet_length`` frames chained from its first frame, scaled by least squares onto the
  truth, ``sqrt(sum of squared position errors) / L``; the mean and standard deviation are the
  published numbers (sequence 09: SfMLearner 0.021 +- 0.017, Monodepth2 0.017 +- 0.008). The
  published code also scores the shortened snippets at the end (``--partial-tail``);
* the whole trajectory chained from the first frame, aligned by sim(3) and scored by ATE and
  RPE (:func:`~defeat_ros.evaluation.pose.trajectory_errors`), and drawn from above.

Frames are read ``batch + 1`` at a time, so a sequence of any length fits in memory.
"""

from defeat_ros.data.kitti_layout import KittiDrive
from defeat_ros.data.kitti_odometry import camera_poses
from defeat_ros.evaluation.inference import predict_depth, predict_motions, refine_motions
from defeat_ros.evaluation.pose import (align_trajectory, chain_motions, relative_motions,
                                        snippet_ate_summary, trajectory_errors)
from defeat_ros.evaluation.protocol import EvaluationConfig
from defeat_ros.evaluation.report import trajectory_comparison
import torch


def drive_motions(model, drive, batch=8, pose_refinement='none'):
    """
    Predict the motions between consecutive frames of a drive.

    :param drive: a :class:`~defeat_ros.data.kitti_layout.KittiDrive` without missing frames.
    :param pose_refinement: 'none' (PoseNet's) or 'direct' (refined by direct alignment).
    :return: (F-1) x 4 x 4 float64 T_next_prev.
    """
    motions = []
    for start in range(0, drive.count - 1, batch):
        stop = min(start + batch, drive.count - 1)
        frames = torch.stack([torch.from_numpy(drive.image(index)).permute(2, 0, 1)
                              for index in range(start, stop + 1)]).float() / 255.0
        chunk = predict_motions(model, frames, batch)
        if pose_refinement == 'direct':
            chunk = refine_motions(chunk, frames, predict_depth(model, frames, batch),
                                   drive.k_norm, model.config.max_depth)
        motions.append(chunk)
    return torch.cat(motions).numpy()


def evaluate_odometry_sequence(model, root, sequence, config=None):
    """
    Score a model's visual odometry on one KITTI odometry sequence.

    :param root: the dataset root (``sequences/<NN>``, ``poses/<NN>.txt``).
    :param sequence: the sequence number (``'09'`` or 9).
    :return: (result {'pose': {'snippet': ..., 'trajectory': ...}}, figure: the trajectories
        as predicted and after sim(3) alignment, from above).
    :raises ValueError: when frames are missing, or the images and poses differ in number.
    """
    config = config or EvaluationConfig()
    number = f'{int(sequence):02d}'
    drive = KittiDrive(root, number, 'l')
    if drive.count < 3 or not drive.present.all():
        missing = int((~drive.present).sum())
        raise ValueError(f'{drive.image_dir}: {drive.count} frames with {missing} missing; '
                         'the evaluation needs at least 3 consecutive frames')
    truth = camera_poses(root, number, drive.camera)
    if len(truth) != drive.count:
        raise ValueError(f'sequence {number}: {drive.count} images but {len(truth)} poses')
    model.eval()
    motions = drive_motions(model, drive, config.batch, config.pose_refinement)
    true_motions = relative_motions(truth)
    true_poses = chain_motions(true_motions)
    predicted = chain_motions(motions)
    pose = {'trajectory': trajectory_errors(predicted, true_poses, config.rpe_delta,
                                            backend=config.trajectory_backend)}
    if drive.count >= config.snippet_length:
        pose['snippet'] = snippet_ate_summary(motions, true_motions, config.snippet_length,
                                              config.partial_tail)
    aligned, scale = align_trajectory(predicted, true_poses)
    figure = trajectory_comparison(
        [('ground truth', true_poses[:, :3, 3])],
        [(f'sequence {number}', predicted[:, :3, 3], aligned[:, :3, 3], scale)])
    return {'pose': pose}, figure
