"""
The ground plane below the camera, fitted to a depth map: the run-time scale and the loss share it.

The bottom rows of a depth map, where the road is seen, are back-projected (corner convention,
:mod:`defeat_ros.geometry`). RANSAC with a seeded generator (a frame's fit is reproducible)
keeps planes whose normal lies within ``max_tilt_deg`` of 'up' in the optical frame (-y) and
scores each by the points within ``tolerance`` x its own height: a relative depth error e moves
a road point off the plane by e x height at any distance, so the band means the same in any
units. Least squares on the inliers refines the best plane; it counts when it holds
``min_inlier_ratio`` of the points.

Users: :mod:`defeat_ros.runtime.ground_scale` (metric scale at run time) and
:mod:`defeat_ros.losses.camera_height` (metric scale in training).
"""

from dataclasses import dataclass
import math

from defeat_ros.geometry import array_namespace, backproject, scale_intrinsics
import numpy as np

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


def ground_region(depth, k_norm, rows=0.4):
    """
    Back-project the bottom ``rows`` fraction of a depth map: (points, valid).

    Differentiable in a ``depth`` tensor; the caller picks the valid points.

    :param depth: H x W depth, numpy array or tensor.
    :param k_norm: 3 x 3 intrinsics normalised by image size (corner convention), of the same
        kind as ``depth``.
    :param rows: fraction of the image height, counted from the bottom, where the road is seen.
    :return: points N x 3 in ``depth``'s kind and dtype, N = W x the region's rows
        (row-major), and valid N bool (finite, positive depth).
    """
    if depth.ndim != 2:
        raise ValueError(f'expected an H x W depth map, got shape {tuple(depth.shape)}')
    if not 0.0 < rows <= 1.0:
        raise ValueError(f'rows must be in (0, 1], got {rows}')
    height, width = depth.shape
    first = height - max(1, round(rows * height))
    xp = array_namespace(depth)
    k_norm = np.asarray(k_norm, dtype=depth.dtype) if xp is np else k_norm.to(depth)
    k_pix = scale_intrinsics(k_norm, height, width)
    points = backproject(depth[None, None], k_pix[None])[0, :, first:].reshape(3, -1).T
    region = depth[first:].reshape(-1)
    return points, xp.isfinite(region) & (region > 0.0)


def ground_points(depth, k_norm, rows=0.4):
    """
    Back-project the bottom ``rows`` fraction of a depth map: N x 3 float64 points.

    :param depth: H x W depth (tensor or array); non-finite or non-positive pixels are dropped.
    :param k_norm: 3 x 3 intrinsics normalised by image size (corner convention).
    :param rows: fraction of the image height, counted from the bottom, where the road is seen.
    """
    if not isinstance(depth, np.ndarray):
        depth = depth.detach().cpu().numpy()
    if not isinstance(k_norm, np.ndarray):
        k_norm = k_norm.detach().cpu().numpy()
    depth, k_norm = depth.astype(np.float64), k_norm.astype(np.float64)
    points, valid = ground_region(depth, k_norm, rows)
    return points[valid]


def within_band(points, normal, height, tolerance):
    """N bool: the N x 3 points within ``tolerance`` x height of the plane (normal, height)."""
    return np.abs(points @ normal + height) < tolerance * height


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
    inlier = inliers[:, best]
    for _ in range(2):  # refine on the inliers, then re-select them with the refined plane
        normal, height = plane_through(points[inlier])
        if normal @ UP < min_cos or height <= min_height:
            return None
        inlier = within_band(points, normal, height, tolerance)
        if inlier.sum() < 3:
            return None
    ratio = float(inlier.mean())
    return GroundPlane(normal, height, ratio) if ratio >= min_inlier_ratio else None
