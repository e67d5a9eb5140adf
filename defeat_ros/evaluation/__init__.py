"""
Evaluation protocols: depth (Eigen), LiDAR ground truth, pose (snippet ATE, ATE/RPE), features.

* :mod:`~defeat_ros.evaluation.depth`: the seven depth metrics, Garg's crop, median scaling
  and the ratio spread, aggregated over a set of images.
* :mod:`~defeat_ros.evaluation.velodyne`: KITTI Velodyne scans and calibration (raw and
  object-benchmark layouts) projected into sparse depth maps.
* :mod:`~defeat_ros.evaluation.pose`: 5-frame snippet ATE (SfMLearner / Monodepth2), Umeyama
  alignment and full-trajectory ATE / RPE (builtin, or through the optional evo package).
* :mod:`~defeat_ros.evaluation.features`: distances of true and false matches and exact
  ROC-AUC with global and local negatives.
* :mod:`~defeat_ros.evaluation.report`: JSON, markdown and PNG figures.
* :mod:`~defeat_ros.evaluation.protocol`: the options of an evaluation (EvaluationConfig).
* :mod:`~defeat_ros.evaluation.inference`: a model's depth, motions and features of frames.
* :mod:`~defeat_ros.evaluation.synthetic`: depth, pose and features on a synthetic drive.
* :mod:`~defeat_ros.evaluation.kitti_raw`: Eigen depth and features on KITTI raw frames (LiDAR,
  oxts).
* :mod:`~defeat_ros.evaluation.kitti_odometry`: snippet ATE and trajectories on KITTI odometry.
* :mod:`~defeat_ros.evaluation.robotcar`, :mod:`~defeat_ros.evaluation.robotcar_lidar`: depth on
  RobotCar runs against their laser scans (the SDK's conventions).
* :mod:`~defeat_ros.evaluation.references`: the published numbers of each benchmark.
* :mod:`~defeat_ros.evaluation.flat_ground`: the flat-ground prior, a road below a level
  camera: a trivial depth baseline for real driving frames.
* :mod:`~defeat_ros.evaluation.run`: evaluate a model directory and write its report.
"""

from defeat_ros.evaluation.depth import (depth_metrics, DepthEvaluation, eigen_depth_metrics,
                                         garg_crop_mask, METRICS, ratio_spread, resize_depth)
from defeat_ros.evaluation.features import (feature_distances, FeatureEvaluation, roc_auc,
                                            true_correspondences)
from defeat_ros.evaluation.pose import (align_trajectory, chain_motions, relative_motions,
                                        snippet_ate, snippet_ate_summary, snippet_ates,
                                        trajectory_errors, umeyama)
from defeat_ros.evaluation.velodyne import (read_calibration, read_object_calibration,
                                            read_raw_calibration, read_velodyne,
                                            velodyne_depth, VelodyneCalibration)

__all__ = [
    'DepthEvaluation', 'FeatureEvaluation', 'METRICS', 'VelodyneCalibration',
    'align_trajectory', 'chain_motions', 'depth_metrics', 'eigen_depth_metrics',
    'feature_distances', 'garg_crop_mask', 'ratio_spread', 'read_calibration',
    'read_object_calibration', 'read_raw_calibration', 'read_velodyne', 'relative_motions',
    'resize_depth', 'roc_auc', 'snippet_ate', 'snippet_ate_summary', 'snippet_ates',
    'trajectory_errors', 'true_correspondences', 'umeyama', 'velodyne_depth',
]
