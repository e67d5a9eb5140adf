"""
How an evaluation is run.

The options of the published protocols (crop, median scaling, depth
range, snippet length, trajectory backend, feature anchors), shared by every evaluation.
"""

from dataclasses import dataclass

from defeat_ros.direct_alignment import POSE_REFINEMENTS
from defeat_ros.typed_config import option, TypedConfig

EVALUATION_SEED = 1000
"""The synthetic street of evaluations; the package's training recipes and held-out sets use
others."""


@dataclass
class EvaluationConfig(TypedConfig):
    """How to evaluate; defaults follow the published protocols."""

    crop: bool = option(True, "Apply Garg's crop to depth evaluation")
    median_scaling: bool = option(True, 'Scale each depth prediction by median(gt) / '
                                  'median(pred) (monocular models); off: compare metric depth '
                                  'as predicted')
    min_depth: float = 1e-3
    """Smallest ground-truth depth that counts (m)."""
    max_depth: float = option(80.0, 'Largest ground-truth depth that counts (m)', minimum=0.1,
                              maximum=1000.0)
    snippet_length: int = option(5, 'Frames per snippet for the snippet ATE', minimum=2,
                                 maximum=1000, flag='--snippet')
    partial_tail: bool = option(False, 'Also score the shortened snippets at the end of a '
                                "sequence, as Monodepth2's code does")
    trajectory_backend: str = option('builtin', 'Full-trajectory ATE / RPE implementation '
                                     '(evo needs the evo package)', choices=('builtin', 'evo'))
    pose_refinement: str = option('none', "Odometry scored: none (PoseNet's poses, the "
                                  'published protocols) or direct (refined by direct image '
                                  "alignment, as the node's default publishes them)",
                                  choices=POSE_REFINEMENTS)
    rpe_delta: int = 1
    """Frame distance of the relative pose error."""
    max_anchors: int = option(5000, 'Feature anchors per image pair', minimum=1,
                              maximum=1000000)
    seed: int = 0
    """Seed of the feature anchor and negative draws."""
    batch: int = 8
    """Frames per network call."""
    figure_frames: int = option(3, 'Frames shown in each depth figure (input, truth, '
                                'prediction, error), spread evenly over the data',
                                minimum=1, maximum=50)
    monodepth2_shift: bool = option(False, 'Ground truth as Monodepth2 exports it: LiDAR points '
                                    'one pixel up and left, the Velodyne x coordinate as depth '
                                    '(see defeat_ros.evaluation.velodyne.velodyne_depth)')
