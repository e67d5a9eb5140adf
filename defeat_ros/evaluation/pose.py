"""
Visual odometry accuracy: 5-frame snippet ATE, and full-trajectory ATE and RPE.

Relative motions are ``T_next_prev`` (4 x 4, maps points of frame k into frame k+1): exactly
what ``DeFeatNet.relative_pose(frame_k, frame_k1, source_is_earlier=False)`` predicts, and what
Monodepth2's PoseNet gives for frame ids (0, 1). Absolute poses are ``T_world_camera``.
Everything here is float64 NumPy; tensors are accepted wherever arrays are.

* :func:`snippet_ates` is the SfMLearner / Monodepth2 KITTI odometry protocol: for each run
  of 5 consecutive frames, chain the 4 relative motions from the first frame (at the origin
  for prediction and ground truth alike), fit one least-squares scale of the predicted
  positions onto the true ones, and take ``sqrt(sum of squared position errors) / 5``; the
  mean and standard deviation over snippets are what papers print (e.g. 0.017 +- 0.008).
* :func:`trajectory_errors` aligns a whole predicted trajectory to ground truth with
  Umeyama's sim(3) least squares (monocular scale included) and reports the absolute
  trajectory error and the relative pose error (delta frames) as evo's ``evo_ape`` and
  ``evo_rpe`` do. ``backend='evo'`` runs evo itself (``pip install evo``; optional).
"""

from defeat_ros.geometry import invert_pose
import numpy as np
import torch

SNIPPET_LENGTH = 5
"""Frames per snippet of the KITTI odometry protocol."""


def as_poses(poses):
    """Return N x 4 x 4 float64 NumPy transforms from an array or tensor."""
    if hasattr(poses, 'detach'):
        poses = poses.detach().cpu().double().numpy()
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (4, 4):
        raise ValueError(f'expected N x 4 x 4 transforms, got shape {poses.shape}')
    return poses


def orthonormalise(poses):
    """
    Project the rotation blocks of N x 4 x 4 poses onto SO(3) (nearest in Frobenius norm).

    Float32 network outputs chained over many frames drift off SO(3) by more than evo's
    validity checks allow; this removes that drift and nothing else.
    """
    poses = as_poses(poses).copy()
    u, _, vt = np.linalg.svd(poses[:, :3, :3])
    sign = np.sign(np.linalg.det(u @ vt))
    u[:, :, 2] *= sign[:, None]
    poses[:, :3, :3] = u @ vt
    return poses


def invert(poses):
    """Closed-form inverse of rigid transforms N x 4 x 4 (float64 numpy, through geometry)."""
    return invert_pose(torch.from_numpy(as_poses(poses))).numpy()


def relative_motions(t_world_camera):
    """Absolute poses F x 4 x 4 -> (F-1) x 4 x 4 motions T_next_prev = inv(P_k+1) P_k."""
    poses = as_poses(t_world_camera)
    return invert(poses[1:]) @ poses[:-1]


def chain_motions(t_next_prev):
    """
    Motions (F-1) x 4 x 4 T_next_prev -> trajectory F x 4 x 4 T_first_camera.

    The first frame sits at the origin and P_k+1 = P_k inv(T_next_prev_k): the inverse of
    :func:`relative_motions` up to the first pose.
    """
    motions = as_poses(t_next_prev)
    poses = [np.eye(4)]
    for motion in invert(motions):
        poses.append(poses[-1] @ motion)
    return np.stack(poses)


def snippet_positions(t_next_prev):
    """
    Camera positions of one snippet, chained as the published evaluation code chains them.

    ``positions[j]`` is the translation of ``A_0 A_1 ... A_j-1`` for the motions ``A`` (the
    ``dump_xyz`` of SfMLearner's code that Monodepth2 reuses); the first position is the
    origin. Prediction and ground truth go through the same chain, so a perfect prediction
    scores 0; keep it for numbers comparable with the literature.

    :param t_next_prev: L-1 motions L-1 x 4 x 4.
    :return: L x 3 positions.
    """
    transform = np.eye(4)
    positions = [transform[:3, 3].copy()]
    for motion in as_poses(t_next_prev):
        transform = transform @ motion
        positions.append(transform[:3, 3].copy())
    return np.stack(positions)


def snippet_ate(gt_positions, pred_positions):
    """
    ATE of one snippet, as SfMLearner's ``compute_ate`` defines it.

    Both start at the same point (the first predicted position is moved onto the first true
    one), the predicted positions are scaled by the least-squares factor
    ``sum(gt . pred) / sum(pred . pred)``, and the error is
    ``sqrt(sum ||scale * pred - gt||^2) / L`` for L positions (note: divided by L, not a root
    mean square; this is what the published numbers are).

    :param gt_positions: L x 3 true positions.
    :param pred_positions: L x 3 predicted positions.
    :return: (ate, scale) as floats; scale is 1 when the prediction does not move.
    """
    gt = np.asarray(gt_positions, dtype=np.float64)
    pred = np.asarray(pred_positions, dtype=np.float64)
    pred = pred + (gt[0] - pred[0])[None]
    norm = np.sum(pred ** 2)
    scale = float(np.sum(gt * pred) / norm) if norm > 0 else 1.0
    error = pred * scale - gt
    return float(np.sqrt(np.sum(error ** 2)) / gt.shape[0]), scale


def snippet_ates(pred_t_next_prev, gt_t_next_prev, length=SNIPPET_LENGTH, partial_tail=False):
    """
    Per-snippet ATE over a sequence of relative motions (the KITTI odometry protocol).

    Snippets start at every frame. With ``partial_tail`` the snippets that run past the end
    are kept, shortened, exactly as Monodepth2's ``evaluate_pose.py`` loops (F-1 snippets for
    F frames); by default only full snippets count (F-L+1), as SfMLearner's test files do.

    :param pred_t_next_prev: predicted motions (F-1) x 4 x 4.
    :param gt_t_next_prev: true motions (F-1) x 4 x 4.
    :param length: frames per snippet.
    :return: array of per-snippet ATEs.
    """
    pred = as_poses(pred_t_next_prev)
    gt = as_poses(gt_t_next_prev)
    if pred.shape != gt.shape:
        raise ValueError(f'prediction {pred.shape} and ground truth {gt.shape} differ')
    motions = length - 1
    starts = range(len(gt)) if partial_tail else range(len(gt) - motions + 1)
    ates = [snippet_ate(snippet_positions(gt[i:i + motions]),
                        snippet_positions(pred[i:i + motions]))[0] for i in starts]
    if not ates:
        raise ValueError(f'{len(gt) + 1} frames hold no snippet of {length}')
    return np.array(ates)


def snippet_ate_summary(pred_t_next_prev, gt_t_next_prev, length=SNIPPET_LENGTH,
                        partial_tail=False):
    """Return mean and std (population) of :func:`snippet_ates`, and the snippet count."""
    ates = snippet_ates(pred_t_next_prev, gt_t_next_prev, length, partial_tail)
    return {'ate_mean': float(ates.mean()), 'ate_std': float(ates.std()),
            'snippets': int(len(ates)), 'snippet_length': int(length)}


def umeyama(source, target, with_scale=True):
    """
    Least-squares similarity (Umeyama 1991) taking source points onto target points.

    Minimises ``sum ||target_i - (s R source_i + t)||^2`` over rotations R (det +1), t and,
    with ``with_scale``, s > 0.

    :param source: N x 3 points.
    :param target: N x 3 points.
    :return: (scale, rotation 3 x 3, translation 3).
    """
    x = np.asarray(source, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 2 or x.shape[1] != 3:
        raise ValueError(f'need two N x 3 point sets, got {x.shape} and {y.shape}')
    mean_x, mean_y = x.mean(axis=0), y.mean(axis=0)
    centred_x, centred_y = x - mean_x, y - mean_y
    variance_x = np.mean(np.sum(centred_x ** 2, axis=1))
    if len(x) < 2 or variance_x <= 1e-24:
        raise ValueError('the source points do not span any distance: alignment is undefined')
    covariance = centred_y.T @ centred_x / len(x)
    u, d, vt = np.linalg.svd(covariance)
    sign = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2, 2] = -1.0
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(d) @ sign) / variance_x) if with_scale else 1.0
    translation = mean_y - scale * rotation @ mean_x
    return scale, rotation, translation


def apply_similarity(poses, scale, rotation, translation):
    """Move poses N x 4 x 4 by a similarity: positions s R p + t, orientations R R_p."""
    poses = as_poses(poses).copy()
    poses[:, :3, 3] = scale * poses[:, :3, 3] @ rotation.T + translation
    poses[:, :3, :3] = rotation @ poses[:, :3, :3]
    return poses


def align_trajectory(pred_t_world_camera, gt_t_world_camera, with_scale=True):
    """
    Align a predicted trajectory to ground truth on its positions (sim(3) or SE(3)).

    :return: (aligned N x 4 x 4 poses, scale).
    """
    pred = as_poses(pred_t_world_camera)
    gt = as_poses(gt_t_world_camera)
    if pred.shape != gt.shape:
        raise ValueError(f'prediction {pred.shape} and ground truth {gt.shape} differ')
    scale, rotation, translation = umeyama(pred[:, :3, 3], gt[:, :3, 3], with_scale)
    return apply_similarity(pred, scale, rotation, translation), scale


def statistics(errors, prefix):
    """Return ``{prefix}_rmse``, ``_mean``, ``_median``, ``_std``, ``_min`` and ``_max``."""
    errors = np.asarray(errors, dtype=np.float64)
    return {f'{prefix}_rmse': float(np.sqrt(np.mean(errors ** 2))),
            f'{prefix}_mean': float(errors.mean()),
            f'{prefix}_median': float(np.median(errors)),
            f'{prefix}_std': float(errors.std()),
            f'{prefix}_min': float(errors.min()),
            f'{prefix}_max': float(errors.max())}


def rotation_angle(rotations):
    """Angles (radians) of rotations N x 3 x 3."""
    trace = np.trace(rotations, axis1=1, axis2=2)
    return np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0))


def absolute_errors(pred_aligned, gt):
    """Position errors ||p_pred - p_gt|| of already aligned trajectories N x 4 x 4."""
    return np.linalg.norm(as_poses(pred_aligned)[:, :3, 3] - as_poses(gt)[:, :3, 3], axis=1)


def relative_errors(pred, gt, delta=1):
    """
    Relative pose errors of frame pairs (i, i + delta), as evo's RPE (TUM RGB-D) defines them.

    ``E_i = inv(inv(Q_i) Q_i+d) inv(P_i) P_i+d`` for ground truth Q and prediction P.

    :return: (translation errors ||t(E_i)|| in metres, rotation angles of E_i in radians).
    """
    pred, gt = as_poses(pred), as_poses(gt)
    if len(gt) <= delta:
        raise ValueError(f'{len(gt)} poses hold no pair {delta} frames apart')
    gt_rel = invert(gt[:-delta]) @ gt[delta:]
    pred_rel = invert(pred[:-delta]) @ pred[delta:]
    error = invert(gt_rel) @ pred_rel
    return np.linalg.norm(error[:, :3, 3], axis=1), rotation_angle(error[:, :3, :3])


def trajectory_errors(pred_t_world_camera, gt_t_world_camera, delta=1, with_scale=True,
                      backend='builtin'):
    """
    Full-trajectory ATE and RPE after Umeyama alignment (sim(3) with ``with_scale``).

    :param pred_t_world_camera: N x 4 x 4 predicted poses (e.g. :func:`chain_motions`).
    :param gt_t_world_camera: N x 4 x 4 true poses, same frames.
    :param delta: RPE frame distance.
    :param backend: ``'builtin'`` (this module) or ``'evo'`` (evo's APE and RPE, which must
        be installed; same definitions, so the numbers agree). Rotations are first projected
        onto SO(3) (:func:`orthonormalise`) for both.
    :return: dict with ``ate_*`` (metres) and ``rpe_trans_*`` (metres) statistics (rmse, mean,
        median, std, min, max), ``rpe_rot_*_deg`` (degrees), the alignment ``scale``, the
        ``length_scale`` (true over predicted path length, :func:`path_length`), the number of
        ``frames`` and the ``backend``.
    """
    pred = orthonormalise(pred_t_world_camera)
    gt = orthonormalise(gt_t_world_camera)
    if backend == 'evo':
        result = _evo_errors(pred, gt, delta, with_scale)
    elif backend == 'builtin':
        aligned, scale = align_trajectory(pred, gt, with_scale)
        translation, angle = relative_errors(aligned, gt, delta)
        result = statistics(absolute_errors(aligned, gt), 'ate')
        result.update(statistics(translation, 'rpe_trans'))
        result.update({f'{k}_deg': v
                       for k, v in statistics(np.degrees(angle), 'rpe_rot').items()})
        result.update(scale=scale, frames=int(len(gt)), delta=int(delta), backend='builtin')
    else:
        raise ValueError(f"backend must be 'builtin' or 'evo', got {backend!r}")
    result['length_scale'] = path_length(gt) / max(path_length(pred), 1e-12)
    return result


def path_length(t_world_camera):
    """
    Return the length of the path through the positions of poses N x 4 x 4 (metres).

    The true path length over the predicted one is the factor that makes the predicted
    distances metric (``length_scale`` of :func:`trajectory_errors`). Unlike the sim(3)
    alignment's scale it does not change with rotation drift: a path that curves where the
    true one runs straight spans less and needs a larger sim(3) scale at the right length.
    """
    positions = as_poses(t_world_camera)[:, :3, 3]
    return float(np.linalg.norm(np.diff(positions, axis=0), axis=1).sum())


def evo_available():
    """Return whether evo can be imported (the optional ``backend='evo'``)."""
    try:
        import evo.core.metrics  # noqa: F401
    except ImportError:
        return False
    return True


def _evo_errors(pred_t_world_camera, gt_t_world_camera, delta, with_scale):
    try:
        from evo.core import metrics
        from evo.core.trajectory import PosePath3D
    except ImportError as error:
        raise RuntimeError(
            "backend='evo' needs the evo package (pip install evo==1.38.1); the builtin "
            'backend computes the same ATE and RPE without it') from error
    reference = PosePath3D(poses_se3=list(as_poses(gt_t_world_camera)))
    estimate = PosePath3D(poses_se3=list(as_poses(pred_t_world_camera)))
    _, _, scale = estimate.align(reference, correct_scale=with_scale)
    result = {}
    for prefix, metric in (
            ('ate', metrics.APE(metrics.PoseRelation.translation_part)),
            ('rpe_trans', metrics.RPE(metrics.PoseRelation.translation_part, delta,
                                      metrics.Unit.frames, all_pairs=False)),
            ('rpe_rot', metrics.RPE(metrics.PoseRelation.rotation_angle_deg, delta,
                                    metrics.Unit.frames, all_pairs=False))):
        metric.process_data((reference, estimate))
        unit = '_deg' if prefix == 'rpe_rot' else ''
        for name in ('rmse', 'mean', 'median', 'std', 'min', 'max'):
            result[f'{prefix}_{name}{unit}'] = float(
                metric.get_statistic(metrics.StatisticsType[name]))
    result.update(scale=float(scale), frames=reference.num_poses, delta=int(delta),
                  backend='evo')
    return result
