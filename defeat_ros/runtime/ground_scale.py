"""
Metric scale from the camera's mounting height: a ground plane fitted to predicted depth.

A monocular network predicts depth and motion up to one factor. The road is a plane at a known
distance below the camera (its mounting height), so the plane's distance in the model's units
gives the factor ``scale = camera_height / estimated_height`` that makes depth and the
translation of relative poses metric.

Per frame (:func:`fit_ground_plane`): the bottom rows of the depth map, where the road is seen,
are back-projected (corner convention, :mod:`defeat_ros.geometry`). RANSAC with a seeded
generator (a frame's fit is reproducible) keeps planes whose normal lies within
``max_tilt_deg`` of 'up' in the optical frame (-y) and scores each by the points within
``tolerance`` x its own height: a relative depth error e moves a road point off the plane by
e x height at any distance, so the band means the same in any units. Least squares on the
inliers refines the best plane; it counts when it holds ``min_inlier_ratio`` of the points.

Over time (:class:`GroundScale`): the log of the estimated height is smoothed by an
exponential moving average. A measurement further than ``gate`` (log units) from the average
is rejected as an outlier, unless ``patience`` consecutive rejected ones agree among themselves
(the camera or the scene changed), which restarts the average from them. Frames without a plane
keep the last scale; before the first plane the scale is 1 (model units).
"""

from dataclasses import dataclass
import math

from defeat_ros.geometry import backproject, scale_intrinsics
import numpy as np
import torch

UP = np.array([0.0, -1.0, 0.0])
"""The expected ground normal in the optical frame (x right, y down, z forward)."""


@dataclass(frozen=True)
class GroundPlane:
    """A plane ``normal . p + height = 0`` below the camera, in the depth's units."""

    normal: np.ndarray
    """3 unit normal pointing up (from the ground towards the camera), optical frame."""
    height: float
    """Distance of the camera centre to the plane."""
    inlier_ratio: float
    """Fraction of the ground-region points within the band of the plane."""


@dataclass(frozen=True)
class ScaleEstimate:
    """The smoothed scale after one frame."""

    scale: float
    """Metres per model unit (the last one when this frame gave no plane; 1 before any)."""
    confidence: float
    """Inlier ratio of this frame's plane; 0 when none was found."""
    height: float
    """This frame's camera height in model units; NaN when no plane was found."""
    accepted: bool
    """Whether this frame's measurement entered the average (False: none, or an outlier)."""


def ground_points(depth, k_norm, rows=0.4):
    """
    Back-project the bottom ``rows`` fraction of a depth map: N x 3 float64 points.

    :param depth: H x W depth (tensor or array); non-finite or non-positive pixels are dropped.
    :param k_norm: 3 x 3 intrinsics normalised by image size (corner convention).
    :param rows: fraction of the image height, counted from the bottom, where the road is seen.
    """
    depth = torch.as_tensor(depth).detach().to('cpu', torch.float64)
    if depth.ndim != 2:
        raise ValueError(f'expected an H x W depth map, got shape {tuple(depth.shape)}')
    if not 0.0 < rows <= 1.0:
        raise ValueError(f'rows must be in (0, 1], got {rows}')
    height, width = depth.shape
    k_pix = scale_intrinsics(torch.as_tensor(k_norm, dtype=torch.float64), height, width)
    points = backproject(depth[None, None], k_pix[None])[0]
    first = height - max(1, round(rows * height))
    points = points[:, first:].reshape(3, -1).T.numpy()
    region = depth[first:].reshape(-1).numpy()
    return points[np.isfinite(region) & (region > 0.0)]


def plane_through(points):
    """Least-squares plane (total least squares) of N x 3 points: (up normal 3, height)."""
    centroid = points.mean(axis=0)
    normal = np.linalg.svd(points - centroid, full_matrices=False)[2][2]
    normal = normal if normal @ UP >= 0.0 else -normal
    return normal, float(-normal @ centroid)


def fit_ground_plane(points, tolerance=0.05, max_tilt_deg=15.0, min_inlier_ratio=0.3,
                     iterations=200, max_points=4096, seed=0):
    """
    Fit the ground plane to N x 3 points by RANSAC, then least squares on the inliers.

    Planes closer to the camera centre than 1e-3 x the median point distance are refused:
    the points of one image row span such a plane.

    :param points: N x 3 points in the optical frame (see :func:`ground_points`).
    :param tolerance: inlier band as a fraction of the plane's height (a relative depth error).
    :param max_tilt_deg: largest angle between the normal and 'up' (-y).
    :param min_inlier_ratio: smallest inlier fraction of a plane that counts.
    :param iterations: RANSAC hypotheses (triples of points).
    :param max_points: points used at most (a seeded random subset).
    :param seed: seed of the generator that draws the subset and the triples.
    :return: the GroundPlane, or None when no plane meets the conditions.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f'expected N x 3 points, got shape {points.shape}')
    if len(points) < 3:
        return None
    generator = np.random.default_rng(seed)
    if len(points) > max_points:
        points = points[generator.choice(len(points), max_points, replace=False)]
    min_cos = math.cos(math.radians(max_tilt_deg))
    min_height = 1e-3 * float(np.median(np.linalg.norm(points, axis=1)))
    a, b, c = points[generator.integers(0, len(points), (3, iterations))]
    normals = np.cross(b - a, c - a)
    lengths = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = normals / np.where(lengths > 0.0, lengths, 1.0)
    normals *= np.where(normals @ UP < 0.0, -1.0, 1.0)[:, None]
    heights = -np.einsum('ij,ij->i', normals, a)
    valid = (lengths[:, 0] > 0.0) & (normals @ UP >= min_cos) & (heights > min_height)
    if not valid.any():
        return None
    normals, heights = normals[valid], heights[valid]
    inliers = np.abs(points @ normals.T + heights) < tolerance * heights
    best = int(np.argmax(inliers.sum(axis=0)))
    normal, height, inlier = normals[best], heights[best], inliers[:, best]
    for _ in range(2):  # refine on the inliers, then re-select them with the refined plane
        normal, height = plane_through(points[inlier])
        if normal @ UP < min_cos or height <= min_height:
            return None
        inlier = np.abs(points @ normal + height) < tolerance * height
        if inlier.sum() < 3:
            return None
    ratio = float(inlier.mean())
    return GroundPlane(normal, height, ratio) if ratio >= min_inlier_ratio else None


class GroundScale:
    """
    Smoothed metric scale of one camera's predicted depth (see the module docstring).

    Call :meth:`update` once per frame; :meth:`reset` forgets the average.
    """

    def __init__(self, camera_height=1.65, rows=0.4, alpha=0.2, gate=0.2, patience=5,
                 **fit_options):
        """
        Set the known mounting height and the smoothing.

        :param camera_height: height of the camera centre above the ground, metres.
        :param rows: bottom fraction of the image searched for the ground.
        :param alpha: weight of a new measurement in the moving average of log height.
        :param gate: largest accepted |log measured height - log average| (0.2: about 22 %).
        :param patience: consecutive agreeing outliers that restart the average.
        :param fit_options: options of :func:`fit_ground_plane`.
        """
        if not 0.0 < alpha <= 1.0 or gate <= 0.0 or patience < 1:
            raise ValueError(f'need 0 < alpha <= 1, gate > 0 and patience >= 1, got {alpha}, '
                             f'{gate}, {patience}')
        self.camera_height = camera_height
        self.rows = rows
        self.alpha = alpha
        self.gate = gate
        self.patience = patience
        self.fit_options = fit_options
        self.reset()

    @property
    def camera_height(self):
        """Known height of the camera above the ground, metres."""
        return self._camera_height

    @camera_height.setter
    def camera_height(self, value):
        if not (math.isfinite(value) and value > 0.0):
            raise ValueError(f'camera_height must be a positive number of metres, got {value}')
        self._camera_height = float(value)

    def reset(self):
        """Forget the average and the pending outliers (the scale returns to 1)."""
        self.log_height = None
        self.outliers = []

    @property
    def scale(self):
        """Metres per model unit of the current average (1 before any plane)."""
        if self.log_height is None:
            return 1.0
        return self.camera_height / math.exp(self.log_height)

    def update(self, depth, k_norm):
        """
        Fit the ground in one frame's depth and update the average: a ScaleEstimate.

        :param depth: H x W predicted depth (model units), tensor or array.
        :param k_norm: 3 x 3 normalised intrinsics of the image.
        """
        plane = fit_ground_plane(ground_points(depth, k_norm, self.rows), **self.fit_options)
        if plane is None:
            return ScaleEstimate(self.scale, 0.0, math.nan, False)
        accepted = self.add(math.log(plane.height))
        return ScaleEstimate(self.scale, plane.inlier_ratio, plane.height, accepted)

    def add(self, log_height):
        """Enter one measured log height into the average; return whether it was accepted."""
        if self.log_height is None:
            self.log_height = log_height
        elif abs(log_height - self.log_height) <= self.gate:
            self.log_height += self.alpha * (log_height - self.log_height)
        else:
            return self.reject(log_height)
        self.outliers = []
        return True

    def reject(self, log_height):
        """Hold an outlier back; ``patience`` agreeing ones restart the average (True then)."""
        self.outliers = (self.outliers + [log_height])[-self.patience:]
        if len(self.outliers) == self.patience and np.ptp(self.outliers) <= self.gate:
            self.log_height = float(np.median(self.outliers))
            self.outliers = []
            return True
        return False
