"""
Direct alignment: refine PoseNet's relative pose against the images and the metric depth.

PoseNet regresses a frame pair's motion in one pass. Its rotation drifts by a fraction of a
degree per frame, and its translation leans towards the step lengths it was trained on; over
seconds both grow into metres of odometry error. The depth network's metric depth of the
current frame and the two images fix the motion more precisely: warping the previous image into
the current one through the depth and a pose, the pose that makes the warp match is the camera's
motion (direct visual odometry: Engel et al., LSD-SLAM / DSO, for frame-to-frame tracking).

:func:`align_pose` minimises the robust (Huber) grey-level difference between the current image
and the warped previous one over the 6 degrees of freedom of ``T_previous_current``, by
Gauss-Newton steps from PoseNet's pose (left-multiplied updates, analytic Jacobians), in numpy
and OpenCV. The scale of the translation comes from the depth. Only steps that lower the cost
are kept, so the result is never worse than PoseNet's pose by that cost, and a pair the warp
cannot explain (too few pixels in view, a first step that does not help) keeps PoseNet's pose.

:func:`alignment_image` makes the grey image it works on: the camera image reduced by the
smallest integer factor that brings it to at most :data:`ALIGNMENT_WIDTH` pixels wide (finer than
the network's input: a small step moves it by more pixels).
"""

from dataclasses import dataclass

import cv2
from defeat_ros.geometry import pixel_grid, scale_intrinsics
import numpy as np

POSE_REFINEMENTS = ('direct', 'none')
"""How a relative pose from PoseNet is refined: by :func:`align_pose`, or not at all."""

ALIGNMENT_WIDTH = 640
"""Widest grey image the alignment works on (pixels); wider camera images are reduced."""

ITERATIONS = 16
"""Most Gauss-Newton steps per frame pair."""

SELECTED = 0.1
"""Fraction of the usable pixels the alignment uses: those of the current image's strongest
grey-level gradients (the others add little but time: a pixel's Jacobian is its gradient)."""

MAX_POINTS = 12288
"""Most pixels the alignment uses (a 640 x 192 image's tenth): wider-than-tall cameras reduced
to 640 wide (640 x 360 for 1080p) keep the time of one."""

HUBER = 0.04
"""Grey-level difference (images in [0, 1]) above which a pixel's weight falls as 1 / |r|."""

CONVERGED = 1e-4
"""An update below this (metres and radians) ends the iteration."""

MIN_PIXELS = 500
"""Fewest pixels with depth, in view in both images, for a step."""

REMAP_COLUMNS = 1024
"""Points are remapped in rows of this many (OpenCV's remap takes maps under 32767 wide)."""


@dataclass
class Alignment:
    """The outcome of one alignment."""

    transform: np.ndarray
    """4 x 4 float64 T_previous_current: the refined pose, or PoseNet's when not accepted."""
    accepted: bool
    """Whether a step lowered the cost (False: ``transform`` is PoseNet's)."""
    cost_before: float
    """Mean Huber cost of PoseNet's pose (nan with too few pixels in view)."""
    cost_after: float
    """Mean Huber cost of the returned pose."""
    steps: int
    """Gauss-Newton steps kept (each lowered the cost)."""


def alignment_image(rgb):
    """
    Grey image for :func:`align_pose`: H x W x 3 uint8 RGB -> h x w float32 in [0, 1].

    Reduced by area averaging by the smallest integer factor that makes it at most
    :data:`ALIGNMENT_WIDTH` wide (each pixel then averages whole camera pixels); normalised
    intrinsics stay those of the camera image.
    """
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    factor = -(-grey.shape[1] // ALIGNMENT_WIDTH)
    if factor > 1:
        size = (grey.shape[1] // factor, grey.shape[0] // factor)
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return grey.astype(np.float32) / 255.0


def align_pose(current, previous, depth, k_norm, t_previous_current, max_depth=np.inf):
    """
    Refine ``t_previous_current`` by direct photometric alignment of two grey images.

    :param current: H x W float32 grey image of the current frame (:func:`alignment_image`).
    :param previous: H x W float32 grey image of the previous frame, same size.
    :param depth: h x w float32 metric depth of the current frame (any size: resized to H x W).
    :param k_norm: 3 x 3 normalised intrinsics of the images.
    :param t_previous_current: 4 x 4 initial pose (PoseNet's): current-frame points to the
        previous frame, metres.
    :param max_depth: depths at or beyond this are left out (the network's far limit: sky).
    :return: an :class:`Alignment`.
    """
    height, width = current.shape
    depth = cv2.resize(np.asarray(depth, np.float32), (width, height),
                       interpolation=cv2.INTER_LINEAR)
    k_pix = scale_intrinsics(np.asarray(k_norm, np.float64), height, width)
    usable = (np.isfinite(depth) & (depth > 0) & (depth < max_depth)).ravel()
    grad_x, grad_y = _gradients(current)
    strength = (grad_x * grad_x + grad_y * grad_y).ravel()  # squared: the same order
    if usable.any():
        kept = min(SELECTED, MAX_POINTS / usable.sum())
        usable &= strength >= np.quantile(strength[usable], 1.0 - kept)
    # The selected pixels lifted to 3D, padded once to whole rows of REMAP_COLUMNS (the
    # padding's samples are dropped).
    count = int(usable.sum())
    points = np.zeros((3, count + (-count % REMAP_COLUMNS)), np.float32)
    points[:, :count] = (np.linalg.inv(k_pix) @ pixel_grid(height, width, depth)[:, usable]
                         * depth.ravel()[usable])
    target = current.ravel()[usable]
    sampled = np.dstack([previous, *_gradients(previous)])  # grey, d/dx, d/dy
    start = np.asarray(t_previous_current, np.float64)
    terms = _residuals(start, points, target, sampled, k_pix) if count >= MIN_PIXELS else None
    if terms is None:
        return Alignment(transform=start, accepted=False, cost_before=np.nan,
                         cost_after=np.nan, steps=0)
    pose, (cost, system) = start, terms
    cost_before, steps = cost, 0
    while steps < ITERATIONS:
        update = np.linalg.solve(system[0], -system[1])
        if not np.all(np.isfinite(update)):
            break
        step = np.eye(4)
        step[:3, :3] = cv2.Rodrigues(update[3:])[0]
        step[:3, 3] = update[:3]
        terms = _residuals(step @ pose, points, target, sampled, k_pix)
        if terms is None or not terms[0] < cost:
            break
        pose, (cost, system), steps = step @ pose, terms, steps + 1
        if np.abs(update).max() < CONVERGED:
            break
    return Alignment(transform=pose, accepted=steps > 0, cost_before=float(cost_before),
                     cost_after=float(cost), steps=steps)


def _residuals(transform, points, target, sampled, k_pix):
    """
    Huber cost and Gauss-Newton system of one pose.

    :param transform: 4 x 4 T_previous_current.
    :param points: 3 x N' float32 current-frame points (metres): the N of ``target``, then
        padding to a multiple of :data:`REMAP_COLUMNS`.
    :param target: N grey levels of the current image at the first N points.
    :param sampled: H x W x 3 float32: the previous grey image and its x and y derivatives.
    :param k_pix: 3 x 3 pixel intrinsics (corner convention).
    :return: (mean cost, (6 x 6 normal matrix, 6 right-hand side)) over the points in view,
        the unknowns ordered translation then rotation (left update); None with too few.
    """
    moved = transform[:3, :3].astype(np.float32) @ points \
        + transform[:3, 3:].astype(np.float32)
    x, y, z = moved
    front = z > 1e-3
    inverse_z = 1.0 / np.where(front, z, 1.0)
    fx, fy = np.float32(k_pix[0, 0]), np.float32(k_pix[1, 1])
    # Corner convention -> OpenCV's pixel-centre coordinates: minus half a pixel.
    columns = (fx * x * inverse_z + np.float32(k_pix[0, 2] - 0.5)).reshape(-1, REMAP_COLUMNS)
    rows = (fy * y * inverse_z + np.float32(k_pix[1, 2] - 0.5)).reshape(-1, REMAP_COLUMNS)
    count = len(target)
    samples = cv2.remap(sampled, columns, rows, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT,
                        borderValue=(np.nan, 0.0, 0.0, 0.0)).reshape(-1, 3)[:count]
    seen = front[:count] & np.isfinite(samples[:, 0])
    if seen.sum() < MIN_PIXELS:
        return None
    grey, grad_x, grad_y = samples[seen].T
    residual = grey - target[seen]
    x, y, z, inverse_z = (values[:count][seen] for values in (x, y, z, inverse_z))
    d_x, d_y = grad_x * fx * inverse_z, grad_y * fy * inverse_z
    d_z = -(d_x * x + d_y * y) * inverse_z
    # d residual / d (translation, rotation) of a left update: dP = v + w x P. float32 rows
    # (6 x N): the 6 x 6 system they make matches float64's to about 1e-6.
    jacobian = np.stack([d_x, d_y, d_z, d_z * y - d_y * z, d_x * z - d_z * x,
                         d_y * x - d_x * y])
    size = np.abs(residual)
    inlier = size < HUBER
    weight = np.where(inlier, np.float32(1.0), np.float32(HUBER) / np.maximum(size, 1e-12))
    cost = np.where(inlier, 0.5 * size ** 2, HUBER * (size - 0.5 * HUBER)).mean(dtype=np.float64)
    weighted = jacobian * weight
    normal = (weighted @ jacobian.T).astype(np.float64)
    normal += 1e-6 * np.trace(normal) * np.eye(6)
    return cost, (normal, (weighted @ residual).astype(np.float64))


def _gradients(image):
    """Return the x and y derivatives of an H x W float32 image (3 x 3 Sobel): two H x W."""
    return (cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3) / 8,
            cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3) / 8)
