"""
Published numbers on the protocols this package evaluates, printed beside a model's own.

Each benchmark names the metrics of the package's result sections (``depth``: AbsRel ... a3;
``pose``: the snippet ATE mean and standard deviation; ``features``: distances and AUCs as
fractions) so that a report can put the published rows above the evaluated model's row. The
sources are the papers in ``shared/seeds`` (DeFeat-Net: Spencer, Bowden, Hadfield, CVPR 2020;
the bidirectional weighted loss: Wang, RCAR 2021; SfMLearner: Zhou et al., CVPR 2017;
segmentation-guided depth, whose table quotes Monodepth2) and, where they print none,
Monodepth2 itself (Godard et al., ICCV 2019).

A published number is comparable only on the same protocol: KITTI depth on the 697 frames of
Eigen's test split, median-scaled and capped at 80 m with Garg's crop; pose on all 5-frame
snippets of sequences 09 and 10; RobotCar on DeFeat-Net's day and night subsets. A report
says which protocol it ran; with another split or metric depth the table is context only.
"""

from dataclasses import dataclass

DEPTH_KEYS = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'a1', 'a2', 'a3')
"""The depth metrics of a published row, in the order papers print them."""

FEATURE_KEYS = ('positive_distance', 'global_negative_distance', 'global_auc',
                'local_negative_distance', 'local_auc')
"""The feature metrics of DeFeat-Net's KITTI table (AUCs as fractions)."""


@dataclass(frozen=True)
class Benchmark:
    """A protocol and what the papers report on it."""

    title: str
    """What was evaluated, how (the heading of the report's table)."""
    section: str
    """The result section the numbers compare with: 'depth', 'pose' or 'features'."""
    rows: tuple
    """(method, source, {metric: value}) per published result."""


def _depth(*values):
    return dict(zip(DEPTH_KEYS, values))


def _snippet(mean, std):
    return {'ate_mean': mean, 'ate_std': std}


DEFEAT = 'DeFeat-Net (CVPR 2020)'
MONODEPTH2 = 'Monodepth2 (ICCV 2019)'
SFMLEARNER = 'SfMLearner (CVPR 2017)'

BENCHMARKS = {
    'kitti_eigen': Benchmark(
        'KITTI Eigen test split (697 frames), median-scaled, capped at 80 m, Garg crop', 'depth',
        ((SFMLEARNER, 'SfMLearner, Table 1 (K)',
          _depth(0.208, 1.768, 6.856, 0.283, 0.678, 0.885, 0.957)),
         (MONODEPTH2, 'Monodepth2 (M, 640x192), as quoted by segmentation-guided depth',
          _depth(0.115, 0.903, 4.863, 0.193, 0.877, 0.959, 0.981)),
         (MONODEPTH2, 'as DeFeat-Net reports it (Eigen-Zhou split)',
          _depth(0.123, 0.944, 5.061, 0.197, 0.866, 0.957, 0.980)),
         ('Bidirectional weighted loss (RCAR 2021)', 'Wang, Table I (256x832)',
          _depth(0.1199, 0.9474, 4.9405, 0.1965, 0.8630, 0.9569, 0.9814)),
         (DEFEAT, 'DeFeat-Net, KITTI depth table',
          _depth(0.126, 0.925, 5.035, 0.200, 0.862, 0.954, 0.980)),
         ('DeFeat-Net without features', 'DeFeat-Net, ablation table',
          _depth(0.123, 0.948, 5.130, 0.197, 0.863, 0.956, 0.980)))),
    'kitti_odometry_09': Benchmark(
        'KITTI odometry sequence 09, ATE over all 5-frame snippets (m)', 'pose',
        (('ORB-SLAM (full)', 'SfMLearner, Table 3', _snippet(0.014, 0.008)),
         ('ORB-SLAM (short)', 'SfMLearner, Table 3', _snippet(0.064, 0.141)),
         (SFMLEARNER, 'SfMLearner, Table 3', _snippet(0.021, 0.017)),
         (MONODEPTH2, 'Monodepth2, odometry table (M)', _snippet(0.017, 0.008)))),
    'kitti_odometry_10': Benchmark(
        'KITTI odometry sequence 10, ATE over all 5-frame snippets (m)', 'pose',
        (('ORB-SLAM (full)', 'SfMLearner, Table 3', _snippet(0.012, 0.011)),
         ('ORB-SLAM (short)', 'SfMLearner, Table 3', _snippet(0.064, 0.130)),
         (SFMLEARNER, 'SfMLearner, Table 3', _snippet(0.020, 0.015)),
         (MONODEPTH2, 'Monodepth2, odometry table (M)', _snippet(0.015, 0.010)))),
    'kitti_features': Benchmark(
        'KITTI feature matching: distances, ROC-AUC of true against global and local '
        '(25 px) false matches', 'features',
        (('ORB', 'DeFeat-Net, KITTI feature table',
          {'global_auc': 0.8583, 'local_auc': 0.8406}),
         ('ResNet-L2', 'DeFeat-Net, KITTI feature table',
          dict(zip(FEATURE_KEYS, (0.341, 1.0391, 0.9925, 0.4371, 0.7180)))),
         ('SAND-GL', 'DeFeat-Net, KITTI feature table',
          dict(zip(FEATURE_KEYS, (0.183, 0.996, 0.9928, 0.642, 0.9334)))),
         (DEFEAT, 'DeFeat-Net, KITTI feature table',
          dict(zip(FEATURE_KEYS, (0.105, 1.113, 0.9910, 0.294, 0.8364)))))),
    'robotcar_day': Benchmark(
        "RobotCar day (DeFeat-Net's 6k-frame subset), median-scaled", 'depth',
        ((MONODEPTH2, 'DeFeat-Net, RobotCar table',
          _depth(0.271, 3.438, 9.268, 0.329, 0.600, 0.840, 0.932)),
         ('DeFeat-Net without features', 'DeFeat-Net, ablation table',
          _depth(0.274, 3.885, 8.953, 0.335, 0.640, 0.853, 0.934)),
         (DEFEAT, 'DeFeat-Net, RobotCar table',
          _depth(0.265, 3.129, 8.954, 0.323, 0.597, 0.843, 0.935)))),
    'robotcar_night': Benchmark(
        "RobotCar night (DeFeat-Net's 6k-frame subset), median-scaled", 'depth',
        ((MONODEPTH2, 'DeFeat-Net, RobotCar table',
          _depth(0.367, 4.512, 9.270, 0.412, 0.561, 0.790, 0.888)),
         ('DeFeat-Net without features', 'DeFeat-Net, ablation table',
          _depth(0.748, 13.502, 8.956, 0.657, 0.393, 0.624, 0.759)),
         (DEFEAT, 'DeFeat-Net, RobotCar table',
          _depth(0.335, 4.339, 9.111, 0.389, 0.603, 0.828, 0.914)))),
}
"""Every benchmark by name; a result names its own under the key ``benchmark``."""


def benchmark(name):
    """Return the :class:`Benchmark` called ``name`` (a KeyError lists the known ones)."""
    if name not in BENCHMARKS:
        raise KeyError(f'no published numbers for {name!r}; known: {sorted(BENCHMARKS)}')
    return BENCHMARKS[name]


def odometry_benchmark(sequence):
    """Return the benchmark name of KITTI odometry sequence ``sequence``, or None."""
    name = f'kitti_odometry_{int(sequence):02d}'
    return name if name in BENCHMARKS else None
