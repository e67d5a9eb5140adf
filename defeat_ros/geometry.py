"""
Pinhole camera geometry: intrinsics, backprojection, projection, SE(3) and view warping.

Conventions (see DESIGN.md):

* Points live in the camera optical frame (x right, y down, z forward).
* A pose ``T_a_b`` (B x 4 x 4) maps homogeneous points from frame b to frame a.
* Pixel coordinates use the *corner* convention: the image spans ``[0, W] x [0, H]`` and the
  centre of pixel (row i, column j) is at ``(j + 0.5, i + 0.5)``. This is exactly the convention
  of ``grid_sample(..., align_corners=False)``, so ``x -> 2 x / W - 1`` is the sampling grid, and
  intrinsics normalised by the image size are exact at every pyramid level.
* OpenCV / ROS ``CameraInfo`` intrinsics put the centre of the top-left pixel at (0, 0); the
  principal point moves by half a pixel between the two (see :func:`normalise_intrinsics`).

The camera maths the camera step needs (intrinsics, back-projection, SE(3)) takes numpy arrays
or torch tensors alike (:func:`array_namespace`) and returns the same kind: the node's camera
step runs it on numpy arrays without importing torch; training runs it on tensors, with
autograd. Resampling (``sample``, ``resize``) is torch only and imports it when called.
"""

import contextlib

import numpy as np

R_OPTICAL_BODY = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
"""Rotation from body axes (x forward, y left, z up: REP-103, KITTI velodyne) to optical axes."""

T_OPTICAL_BODY = np.eye(4)
T_OPTICAL_BODY[:3, :3] = R_OPTICAL_BODY
"""Maps coordinates in body axes to coordinates in optical axes at the same camera (4 x 4)."""

ALIGN_CORNERS = False
"""The ``align_corners`` of every resampling in the package (matches the corner convention)."""


def array_namespace(array):
    """
    Return the module whose functions take ``array``: numpy for numpy arrays, else torch.

    torch is only looked up for a tensor, when the caller has imported it already.
    """
    if isinstance(array, (np.ndarray, np.generic)):
        return np
    import torch
    return torch


def intrinsics_array(fx, fy, cx, cy, width, height):
    """
    Return 3 x 3 float32 numpy intrinsics normalised by image size from OpenCV/ROS intrinsics.

    ``cx, cy`` follow OpenCV (pixel centres at integers); the result uses the corner convention.
    """
    return np.array([
        [fx / width, 0.0, (cx + 0.5) / width],
        [0.0, fy / height, (cy + 0.5) / height],
        [0.0, 0.0, 1.0],
    ], dtype=np.float32)


def normalise_intrinsics(fx, fy, cx, cy, width, height):
    """Return :func:`intrinsics_array` as a 3 x 3 float32 tensor (datasets and training)."""
    import torch
    return torch.from_numpy(intrinsics_array(fx, fy, cx, cy, width, height))


def pixel_intrinsics_opencv(k_norm, height, width):
    """
    Return OpenCV/ROS pixel intrinsics ``(fx, fy, cx, cy)`` of an H x W image as floats.

    The inverse of :func:`normalise_intrinsics`: ``cx, cy`` put pixel centres at integers (the
    convention of ``CameraInfo`` and KITTI calibration files), half a pixel left of and above
    the corner-convention principal point of :func:`scale_intrinsics`.
    """
    k = k_norm
    return (float(k[0, 0]) * width, float(k[1, 1]) * height,
            float(k[0, 2]) * width - 0.5, float(k[1, 2]) * height - 0.5)


def scale_intrinsics(k_norm, height, width):
    """Scale normalised intrinsics (... x 3 x 3, array or tensor) to an H x W image's pixels."""
    return array_namespace(k_norm).stack(
        [k_norm[..., 0, :] * width, k_norm[..., 1, :] * height, k_norm[..., 2, :]], axis=-2)


def pixel_grid(height, width, like=None):
    """
    Homogeneous pixel centres, 3 x (H*W), row-major, corner convention.

    :param like: an array or tensor whose kind, dtype and device the grid takes; None: a
        float32 CPU tensor.
    """
    if like is None:
        import torch
        like = torch.zeros((), dtype=torch.float32)
    xp = array_namespace(like)
    ys = xp.arange(height, dtype=like.dtype, device=like.device) + 0.5
    xs = xp.arange(width, dtype=like.dtype, device=like.device) + 0.5
    grid_y, grid_x = xp.meshgrid(ys, xs, indexing='ij')
    return xp.stack([grid_x, grid_y, xp.ones_like(grid_x)]).reshape(3, -1)


def backproject(depth, k_pix):
    """Lift every pixel to a 3D point: depth B x 1 x H x W, K B x 3 x 3 -> points B x 3 x H x W."""
    b, _, h, w = depth.shape
    rays = array_namespace(depth).linalg.inv(k_pix) @ pixel_grid(h, w, depth)
    return (rays * depth.reshape(b, 1, -1)).reshape(b, 3, h, w)


def project(points, k_pix, eps=1e-6):
    """
    Project points B x 3 x H x W with K B x 3 x 3 -> (pixels B x 2 x H x W, depth B x 1 x H x W).

    Depth is clamped to ``eps`` before division; points behind the camera are reported through
    their (non-positive) depth so callers can mask them.
    """
    b, _, h, w = points.shape
    cam = k_pix @ points.view(b, 3, -1)
    z = cam[:, 2:3]
    pixels = cam[:, :2] / z.clamp(min=eps)
    return pixels.view(b, 2, h, w), z.view(b, 1, h, w)


def transform_points(t_a_b, points):
    """Apply T_a_b (B x 4 x 4) to points B x 3 x H x W given in frame b."""
    b, _, h, w = points.shape
    flat = points.view(b, 3, -1)
    return (t_a_b[:, :3, :3] @ flat + t_a_b[:, :3, 3:]).view(b, 3, h, w)


def skew(v):
    """Skew-symmetric matrices B x 3 x 3 of vectors B x 3."""
    xp = array_namespace(v)
    zero = xp.zeros_like(v[:, 0])
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    return xp.stack([
        xp.stack([zero, -z, y], axis=-1),
        xp.stack([z, zero, -x], axis=-1),
        xp.stack([-y, x, zero], axis=-1),
    ], axis=1)


SINC_SERIES_BELOW = 1e-2
"""Squared angles below this take the Taylor series of sin(x)/x (error under x^6/5040)."""


def sinc_of_squared(x2):
    """
    sin(x) / x from x^2 (any shape), finite in every precision and smooth through zero.

    Safe in fp16: its constants are normal fp16 numbers, and an x^2 that underflows to zero
    (an angle below about 2e-4 rad in fp16) takes the series, never 0 / 0.
    """
    xp = array_namespace(x2)
    small = x2 < SINC_SERIES_BELOW
    x = xp.sqrt(xp.where(small, xp.ones_like(x2), x2))
    return xp.where(small, 1.0 - x2 / 6.0 + x2 * x2 / 120.0, xp.sin(x) / x)


def axis_angle_to_matrix(axis_angle):
    """
    Rodrigues' formula: axis-angle B x 3 -> rotation B x 3 x 3 (smooth through zero angle).

    R = I + sinc(t) K + (1 - cos t) / t^2 K^2 with (1 - cos t) / t^2 = sinc(t / 2)^2 / 2, which
    has no cancellation at small angles. Built on the device of ``axis_angle`` without host
    copies (CUDA graphs capture it).
    """
    theta2 = (axis_angle * axis_angle).sum(axis=1, keepdims=True)[..., None]
    sin_term = sinc_of_squared(theta2)
    cos_term = 0.5 * sinc_of_squared(theta2 / 4.0) ** 2
    k = skew(axis_angle)
    eye = array_namespace(k).eye(3, device=axis_angle.device, dtype=axis_angle.dtype)
    return eye + sin_term * k + cos_term * (k @ k)


def matrix_to_axis_angle(rotation):
    """Inverse of :func:`axis_angle_to_matrix` for rotations B x 3 x 3 with angle in [0, pi)."""
    xp = array_namespace(rotation)
    trace = rotation[:, 0, 0] + rotation[:, 1, 1] + rotation[:, 2, 2]
    cos = xp.clip((trace - 1.0) / 2.0, -1.0 + 1e-7, 1.0 - 1e-7)
    theta = xp.acos(cos)
    vee = xp.stack([
        rotation[:, 2, 1] - rotation[:, 1, 2],
        rotation[:, 0, 2] - rotation[:, 2, 0],
        rotation[:, 1, 0] - rotation[:, 0, 1],
    ], axis=1)
    small = theta < 1e-4
    sin = xp.where(small, xp.ones_like(theta), xp.sin(theta))
    scale = xp.where(small, 0.5 + theta * theta / 12.0, theta / (2.0 * sin))
    return vee * scale[:, None]


def pose_to_matrix(axis_angle, translation):
    """
    SE(3) matrices B x 4 x 4 from axis-angle B x 3 and translation B x 3 (rotate, translate).

    Built on the inputs' device without host copies (CUDA graphs capture it).
    """
    xp = array_namespace(axis_angle)
    b = axis_angle.shape[0]
    top = xp.concat([axis_angle_to_matrix(axis_angle), translation.reshape(b, 3, 1)], axis=2)
    bottom = xp.concat([xp.zeros_like(translation), xp.ones_like(translation[:, :1])],
                       axis=1).reshape(b, 1, 4)
    return xp.concat([top, bottom], axis=1)


def motion_to_transform(motion, inverted=False):
    """
    SE(3) matrices B x 4 x 4 from motions B x 6 (axis-angle, then translation), in fp32.

    The rotation maths runs in fp32 whatever precision produced ``motion`` (autocast off): an
    fp16 Rodrigues formula loses small rotations. ``inverted`` returns the inverse transforms.
    Numpy motions give numpy transforms.
    """
    xp = array_namespace(motion)
    if xp is np:
        full_precision, motion = contextlib.nullcontext(), motion.astype(np.float32)
    else:
        full_precision, motion = xp.autocast(motion.device.type, enabled=False), motion.float()
    with full_precision:
        transform = pose_to_matrix(motion[:, :3], motion[:, 3:])
        return invert_pose(transform) if inverted else transform


def invert_pose(t_a_b):
    """Closed-form inverse of rigid transforms B x 4 x 4: returns T_b_a."""
    xp = array_namespace(t_a_b)
    rot_t = t_a_b[:, :3, :3].mT
    trans = -rot_t @ t_a_b[:, :3, 3:]
    top = xp.concat([rot_t, trans], axis=2)
    return xp.concat([top, t_a_b[:, 3:, :]], axis=1)


def pixels_to_grid(pixels, height, width):
    """
    Pixel coordinates B x 2 x h x w (corner convention) in an H x W image -> grid B x h x w x 2.

    The grid is in ``grid_sample``'s [-1, 1] range with ``align_corners=False``.
    """
    size = pixels.new_tensor([width, height]).view(1, 2, 1, 1)
    return (2.0 * pixels / size - 1.0).permute(0, 2, 3, 1)


def reproject(depth_target, t_source_target, k_pix):
    """
    Move every target pixel into the source view.

    :param depth_target: B x 1 x H x W depth of the target view, metres.
    :param t_source_target: B x 4 x 4, maps target-camera points into the source camera.
    :param k_pix: B x 3 x 3 pixel intrinsics at this resolution (shared by both views).
    :return: (pixels B x 2 x H x W, source pixel coordinates in the corner convention;
        depth B x 1 x H x W of the points in the source camera).
    """
    points = transform_points(t_source_target, backproject(depth_target, k_pix))
    return project(points, k_pix)


def in_view(pixels, depth, min_depth=1e-3):
    """B x 1 x H x W float mask: in front of the camera and inside the H x W image."""
    h, w = pixels.shape[-2:]
    inside = ((pixels[:, :1] >= 0) & (pixels[:, :1] <= w)
              & (pixels[:, 1:] >= 0) & (pixels[:, 1:] <= h) & (depth > min_depth))
    return inside.to(pixels.dtype)


def correspondences(depth_target, t_source_target, k_pix):
    """Source pixels B x 2 x H x W of every target pixel, and their in-view mask B x 1 x H x W."""
    pixels, depth = reproject(depth_target, t_source_target, k_pix)
    return pixels, in_view(pixels, depth)


def sample(source, pixels, mode='bilinear'):
    """
    Sample source B x C x H x W at pixel coordinates B x 2 x h x w -> B x C x h x w.

    Bilinear by default, border padding; coordinates are in the source's pixel frame.
    """
    import torch.nn.functional as F
    grid = pixels_to_grid(pixels, *source.shape[-2:])
    return F.grid_sample(source, grid, mode=mode, padding_mode='border',
                         align_corners=ALIGN_CORNERS)


def warp(source, depth_target, t_source_target, k_pix):
    """Synthesise the target view from a source: (warped B x C x H x W, valid B x 1 x H x W)."""
    pixels, valid = correspondences(depth_target, t_source_target, k_pix)
    return sample(source, pixels), valid


def resize(tensor, height, width, mode='bilinear'):
    """Resize B x C x h x w to B x C x H x W with the package's ``align_corners`` choice."""
    import torch.nn.functional as F
    if mode == 'nearest':
        return F.interpolate(tensor, size=(height, width), mode='nearest')
    return F.interpolate(tensor, size=(height, width), mode=mode, align_corners=ALIGN_CORNERS)


def matrix_to_quaternion(rotation):
    """Return the unit quaternion (x, y, z, w), w >= 0, of a 3 x 3 rotation (numpy)."""
    m = np.asarray(rotation, dtype=np.float64)
    trace = np.trace(m)
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q = [0.0] * 4
        q[i], q[j], q[k] = 0.25 * s, (m[j, i] + m[i, j]) / s, (m[k, i] + m[i, k]) / s
        q[3] = (m[k, j] - m[j, k]) / s
    q = np.array(q) / np.linalg.norm(q)
    return q if q[3] >= 0 else -q


def quaternion_to_matrix(x, y, z, w):
    """Return the 3 x 3 rotation (numpy float64) of a unit quaternion (x, y, z, w)."""
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def rpy_to_matrix(roll, pitch, yaw):
    """
    Return the 3 x 3 rotation (numpy float64) of fixed-axis roll, pitch, yaw (rad).

    ``Rz(yaw) @ Ry(pitch) @ Rx(roll)``: the convention of tf2's ``setRPY`` and of
    ``static_transform_publisher --roll --pitch --yaw``.
    """
    cr, sr, cp, sp, cy, sy = (np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch),
                              np.cos(yaw), np.sin(yaw))
    return np.array([[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                     [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                     [-sp, cp * sr, cp * cr]])


def mount_pose(x=0.0, y=0.0, z=0.0, roll=0.0, pitch=0.0, yaw=0.0):
    """
    Return ``T_base_optical`` (4 x 4 float64): a camera's optical frame in the vehicle frame.

    The camera sits at (x, y, z) m in the base frame (REP-103: x forward, y left, z up); its
    body axes are the base axes turned by roll, pitch, yaw (:func:`rpy_to_matrix`), and its
    optical axes (x right, y down, z forward) follow from them. All zero: a camera at the base
    origin looking along base x. This is the transform ``depth.launch.py`` publishes as
    base_frame -> camera_frame.
    """
    pose = np.eye(4)
    pose[:3, :3] = rpy_to_matrix(roll, pitch, yaw) @ R_OPTICAL_BODY.T
    pose[:3, 3] = (x, y, z)
    return pose


def optical_to_body(t_optical):
    """
    Express motions or poses between optical camera frames between their body frames.

    :param t_optical: ... x 4 x 4 transforms between optical frames (array or tensor).
    :return: ... x 4 x 4 float64 numpy transforms between the body frames (REP-103 axes) at the
        same cameras.
    """
    return camera_to_base(t_optical, T_OPTICAL_BODY.T)


def camera_to_base(t_optical, t_base_optical):
    """
    Express motions between optical camera frames as motions of the vehicle carrying them.

    A camera rigidly mounted at ``t_base_optical`` moving by ``T_previous_current`` (optical)
    means the vehicle moved by ``t_base_optical @ T_previous_current @ inv(t_base_optical)``.

    :param t_optical: ... x 4 x 4 transforms between optical frames (array or tensor).
    :param t_base_optical: 4 x 4 pose of the optical frame in the base frame (:func:`mount_pose`).
    :return: ... x 4 x 4 float64 numpy transforms between the base frames.
    """
    if hasattr(t_optical, 'detach'):
        t_optical = t_optical.detach().cpu().double().numpy()
    mount = np.asarray(t_base_optical, dtype=np.float64)
    return mount @ np.asarray(t_optical, dtype=np.float64) @ np.linalg.inv(mount)
