"""
Ground-truth sparse depth for Oxford RobotCar frames from the run's 2-D and 3-D laser scans.

What the SDK's ``python/build_pointcloud.py`` and ``python/project_laser_into_camera.py``
(github.com/ori-mrg/robotcar-dataset-sdk) do, as a depth map: the scans taken in a time window
around the image are placed with the vehicle's poses at their own times, moved into the camera
at the image time and projected with the camera model; each pixel keeps its nearest point.

Files (the SDK's layout)::

    <run>/<laser>/<timestamp>.bin      one scan, float64, points one after another:
                                       lms_front, lms_rear (2-D push-broom SICK LMS-151):
                                       x, y, reflectance; ldmrs (3-D SICK LD-MRS): x, y, z
                                       (build_pointcloud.py: ``reshape((n // 3, 3)).T``; a 2-D
                                       scan lies in its laser's z = 0 plane)
    <run>/<laser>.timestamps           ``<timestamp> <chunk>`` per scan (optional here: without
                                       it the folder's ``*.bin`` are the scans)
    <run>/vo/vo.csv                    visual odometry (:mod:`defeat_ros.data.robotcar_vo`)
    <run>/gps/ins.csv                  INS: ``northing, easting, down, roll, pitch, yaw`` columns
    <extrinsics_dir>/<sensor>.txt      ``x y z roll pitch yaw`` (m, rad), first line
    <models_dir>/<model>.txt           ``fx fy cx cy``, then the 4 x 4 ``G_camera_image``

Conventions, as the SDK's code uses them:

* Transforms: ``x y z roll pitch yaw`` is the 4 x 4 ``[Rz(yaw) Ry(pitch) Rx(roll) | x y z]``
  (``transform.py``: ``build_se3_transform``), the same for extrinsics, VO rows and INS poses.
* The vehicle frame is the stereo camera's (x forward, y right, z down; ``extrinsics/stereo.txt``
  is all zeros). A laser's extrinsics are its pose in that frame, ``G_vehicle_laser``
  (``build_pointcloud.py``: ``G_posesource_laser``). A camera's extrinsics are used as
  ``G_camera_vehicle`` (``project_laser_into_camera.py``), the other direction (users report
  that the mono cameras' files hold the inverse of their poses: ori-mrg/robotcar-dataset-sdk#22).
* Pose sources: with vo.csv the poses are the vehicle's, the rows chained as
  ``interpolate_poses.py``'s ``interpolate_vo_poses`` chains them; with ins.csv they are the
  INS's, ``G_world_ins = se3(northing, easting, down, roll, pitch, yaw)``, and the INS sits at
  ``extrinsics/ins.txt`` in the vehicle frame (``G_vehicle_ins``). (Positions are taken
  relative to the first INS row before the poses are built: the same relative poses, without
  losing digits to UTM's millions of metres.)
* A point ``p`` of the scan at time ``t`` lands in the image taken at time ``t0`` at::

      inv(G_camera_image) G_camera_vehicle G_vehicle_source inv(P(t0)) P(t)
          inv(G_vehicle_source) G_vehicle_laser p

  ``P`` being the pose source's poses and ``G_vehicle_source`` the identity for VO.
  ``G_camera_image`` (the model file's last four lines) takes the image (optical) frame, x right
  y down z forward, to the camera frame; its z is the depth.
* Projection: ``u = fx x / z + cx``, ``v = fy y / z + cy`` with the pixel centres at integers,
  as :mod:`defeat_ros.data.robotcar` reads the model files; a point counts in the pixel
  ``(round(v), round(u))`` when that pixel is in the image and ``z > 0``. (The SDK keeps
  ``0.5 <= u <= W`` in Python and ``0.5 <= u < W - 0.5`` in MATLAB, half a pixel apart; we
  keep every pixel.)
* Window: the SDK's ``project_laser_into_camera.py`` uses 10 s either side of the image time
  (``timestamp - 1e7, timestamp + 1e7``); :data:`WINDOW_S` is that default. Push-broom scans
  behind the camera at the image time are simply not in front of it.

Where we differ, fixing the SDK's known bugs (ori-mrg/robotcar-dataset-sdk#33): its
``interpolate_poses`` computes ``fractions = (t - t_lower) // (t_upper - t_lower)``, an integer
division that makes every fraction 0 (the lower pose), and inserts the origin time into the
caller's list of scan times, so ``build_pointcloud`` pairs each scan's pose with the previous
scan's file; :func:`interpolate_poses` interpolates for real (positions linearly, rotations by
slerp) and every scan gets its own pose. The first VO pose is at the first row's
``destination_timestamp`` (the SDK puts it at 0 when no row precedes the window). With those
bugs fixed in a copy of the SDK, its point clouds and ours agree to 1e-14 m for every scan
strictly inside the poses' span on a run written by :mod:`defeat_ros.data.robotcar_writer`.
Scans outside the poses' time span are left out instead of being extrapolated, and the
image's own time must lie inside it. As in the SDK, scans listed in ``<laser>.timestamps``
without a file (chunks not downloaded) are skipped; a window without any scan is an error.
Velodyne HDL-32E scans (RobotCar Radar dataset) are not read.
"""

from dataclasses import dataclass
from pathlib import Path

from defeat_ros.data.robotcar import (camera_model_name, first_line_numbers, read_camera_model,
                                      run_folder)
from defeat_ros.data.robotcar_ins import read_ins_columns
from defeat_ros.data.robotcar_vo import euler_to_so3, read_vo_rows
from defeat_ros.geometry import matrix_to_quaternion, quaternion_to_matrix
from defeat_ros.typed_config import option, TypedConfig
import numpy as np
import torch

LASERS = {'lms_front': 2, 'lms_rear': 2, 'ldmrs': 3}
"""The lasers read and the dimension of their points (2: x, y, reflectance; 3: x, y, z)."""

POSE_SOURCES = ('vo', 'ins')
"""Where the vehicle's poses come from: ``vo/vo.csv`` or ``gps/ins.csv``."""

WINDOW_S = 10.0
"""Seconds of scans taken on each side of the image time (the SDK's projection script's)."""

INS_POSE_COLUMNS = ('timestamp', 'northing', 'easting', 'down', 'roll', 'pitch', 'yaw')
"""The ins.csv columns a pose is built from (found by their header names)."""


@dataclass
class LidarConfig(TypedConfig):
    """Which laser scans make the ground truth, and how they are placed."""

    laser: str = option('lms_front', 'Laser whose scans are projected: the 2-D push-broom '
                        'lms_front or lms_rear, or the 3-D ldmrs', choices=tuple(LASERS))
    poses: str = option('vo', 'Vehicle poses placing the scans: vo (vo/vo.csv) or ins '
                        '(gps/ins.csv)', choices=POSE_SOURCES)
    before_s: float = option(WINDOW_S, 'Seconds of scans before the image time', minimum=0.0,
                             maximum=600.0)
    after_s: float = option(WINDOW_S, 'Seconds of scans after the image time', minimum=0.0,
                            maximum=600.0)
    laser_dir: str = ''
    """The scan folder; '' : ``<run>/<laser>``."""
    poses_file: str = ''
    """The vo.csv or ins.csv; '' : ``<run>/vo/vo.csv`` or ``<run>/gps/ins.csv``."""

    def __post_init__(self):
        """Check the choices and the window."""
        self.check_options()


def se3(values):
    """
    Return the SDK's transform of ``x y z roll pitch yaw`` (``build_se3_transform``).

    :param values: 6 numbers, or N x 6.
    :return: 4 x 4 (or N x 4 x 4) float64 ``[Rz(yaw) Ry(pitch) Rx(roll) | x y z]``.
    """
    values = np.asarray(values, dtype=np.float64)
    flat = values.reshape(-1, 6)
    out = np.tile(np.eye(4), (len(flat), 1, 1))
    out[:, :3, :3] = euler_to_so3(flat[:, 3:6])
    out[:, :3, 3] = flat[:, :3]
    return out[0] if values.ndim == 1 else out


def read_extrinsics(extrinsics_dir, sensor):
    """
    Read a sensor's extrinsics ``<extrinsics_dir>/<sensor>.txt`` as a transform.

    :param extrinsics_dir: the SDK's ``extrinsics`` folder.
    :param sensor: ``stereo``, ``mono_left``, ``lms_front``, ``ins``...
    :return: 4 x 4 float64 :func:`se3` of the first line.
    :raises FileNotFoundError: naming the file when it is missing.
    :raises ValueError: naming the file when its first line is not six numbers.
    """
    path = Path(extrinsics_dir) / f'{sensor}.txt'
    if not path.is_file():
        raise FileNotFoundError(f'no extrinsics {path} for {sensor} (the SDK extrinsics '
                                'folder has one "x y z roll pitch yaw" file per sensor)')
    first, values = first_line_numbers(path)
    if len(values) != 6:
        raise ValueError(f'{path}: the first line must be "x y z roll pitch yaw", got '
                         f'{" ".join(first)!r}')
    return se3(values)


def read_camera_geometry(path):
    """
    Read an SDK camera model file whole.

    :param path: ``<model>.txt``: ``fx fy cx cy``, then four rows of ``G_camera_image``.
    :return: ((fx, fy, cx, cy) pixels, centres at integers; 4 x 4 float64 ``G_camera_image``).
    :raises ValueError: naming the file when either part is malformed.
    """
    intrinsics = read_camera_model(path)
    with open(path) as stream:
        rows = [line.split() for line in stream.read().splitlines()[1:] if line.strip()]
    try:
        matrix = np.array([[float(value) for value in row] for row in rows], dtype=np.float64)
    except ValueError:
        matrix = np.zeros(0)
    if matrix.shape != (4, 4):
        raise ValueError(f'{path}: expected the 4 x 4 G_camera_image on lines 2-5 after '
                         f'"fx fy cx cy", got {len(rows)} rows')
    return intrinsics, matrix


def read_scan(path, laser='lms_front'):
    """
    Read one laser scan as points in the laser's frame.

    :param path: ``<timestamp>.bin``: float64 triples (see the module docstring).
    :param laser: which laser took it (:data:`LASERS`): its points' dimension.
    :return: N x 3 float64 points (z = 0 for the 2-D lasers, whose third value, the
        reflectance, is dropped).
    :raises ValueError: naming the file when its size is not a whole number of float64 triples.
    """
    data = np.fromfile(path, dtype=np.float64) if Path(path).stat().st_size % 8 == 0 else None
    if data is None or data.size % 3:
        size = Path(path).stat().st_size
        raise ValueError(f'{path}: {size} bytes are not a whole number of float64 triples '
                         f'(24 bytes a point) of a {laser} scan')
    points = data.reshape(-1, 3).copy()
    if LASERS[laser] == 2:
        points[:, 2] = 0.0
    return points


def scan_times(laser_dir):
    """
    Return the times of a laser's scans.

    :param laser_dir: ``<run>/<laser>``.
    :return: sorted int64 microseconds: those of ``<run>/<laser>.timestamps`` when it exists
        (the SDK's list), else of the folder's ``<timestamp>.bin`` files.
    :raises FileNotFoundError: naming the folder when it does not exist.
    :raises ValueError: when neither lists any scan.
    """
    laser_dir = Path(laser_dir)
    if not laser_dir.is_dir():
        raise FileNotFoundError(f'no laser folder {laser_dir}')
    listing = laser_dir.parent / f'{laser_dir.name}.timestamps'
    if listing.is_file():
        times = [int(line.split()[0]) for line in listing.read_text().splitlines()
                 if line.strip()]
    else:
        times = [int(path.stem) for path in laser_dir.glob('*.bin') if path.stem.isdigit()]
    if not times:
        raise ValueError(f'{laser_dir}: no scans (no <timestamp>.bin files, nor lines in '
                         f'{listing})')
    return np.unique(np.array(times, dtype=np.int64))


def vo_poses(path):
    """
    Chain a vo.csv into vehicle poses, as ``interpolate_vo_poses`` does.

    :param path: the vo.csv.
    :return: (N + 1 int64 times, N + 1 x 4 x 4 float64 poses relative to the first time).
    """
    times, rows = read_vo_rows(path)
    steps = se3(rows[:, 2:8].reshape(-1, 6))
    poses = np.empty((len(times), 4, 4))
    poses[0] = np.eye(4)
    for number, step in enumerate(steps):
        poses[number + 1] = poses[number] @ step
    return times, poses


def ins_poses(path):
    """
    Read the INS's poses from an ins.csv.

    :param path: the ins.csv (columns found by :data:`INS_POSE_COLUMNS` header names).
    :return: (N int64 times, N x 4 x 4 float64 ``se3(northing, easting, down, roll, pitch,
        yaw)``, positions relative to the first row's).
    :raises ValueError: as :func:`~defeat_ros.data.robotcar_ins.read_ins_columns`.
    """
    times, values = read_ins_columns(path, INS_POSE_COLUMNS)
    values[:, :3] -= values[0, :3]
    return times, se3(values)


def slerp(q0, q1, fraction):
    """
    Interpolate unit quaternions along the shorter arc.

    :param q0: N x 4 quaternions (x, y, z, w).
    :param q1: N x 4.
    :param fraction: N in [0, 1].
    :return: N x 4 unit quaternions.
    """
    dot = np.sum(q0 * q1, axis=1)
    q1 = np.where(dot[:, None] < 0.0, -q1, q1)
    dot = np.clip(np.abs(dot), -1.0, 1.0)
    theta = np.arccos(dot)
    small = np.sin(theta) < 1e-9
    safe = np.where(small, 1.0, np.sin(theta))
    w0 = np.where(small, 1.0 - fraction, np.sin((1.0 - fraction) * theta) / safe)
    w1 = np.where(small, fraction, np.sin(fraction * theta) / safe)
    out = w0[:, None] * q0 + w1[:, None] * q1
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def interpolate_poses(times, poses, at):
    """
    Interpolate poses to other times: positions linearly, rotations by slerp.

    :param times: N increasing int64 microseconds.
    :param poses: N x 4 x 4 float64.
    :param at: M times inside ``[times[0], times[-1]]``.
    :return: M x 4 x 4 float64.
    """
    at = np.asarray(at, dtype=np.int64)
    upper = np.clip(np.searchsorted(times, at, side='right'), 1, len(times) - 1)
    lower = upper - 1
    if len(times) == 1:
        return np.repeat(poses[:1], len(at), axis=0)
    span = (times[upper] - times[lower]).astype(np.float64)
    fraction = np.clip((at - times[lower]).astype(np.float64) / span, 0.0, 1.0)
    needed, where = np.unique(np.concatenate([lower, upper]), return_inverse=True)
    quaternions = np.array([matrix_to_quaternion(poses[index, :3, :3]) for index in needed])
    rotations = slerp(quaternions[where[:len(at)]], quaternions[where[len(at):]], fraction)
    out = np.tile(np.eye(4), (len(at), 1, 1))
    out[:, :3, :3] = [quaternion_to_matrix(*q) for q in rotations]
    out[:, :3, 3] = ((1.0 - fraction)[:, None] * poses[lower, :3, 3]
                     + fraction[:, None] * poses[upper, :3, 3])
    return out


def nearest_depth(points, intrinsics, height, width):
    """
    Project points of the image (optical) frame into a sparse depth map, nearest per pixel.

    :param points: N x 3 (x right, y down, z forward), metres.
    :param intrinsics: (fx, fy, cx, cy) pixels, pixel centres at integers.
    :param height: image height in pixels.
    :param width: image width in pixels.
    :return: H x W float32 tensor: the smallest z of the points rounding into each pixel, 0 where
        none does.
    """
    fx, fy, cx, cy = intrinsics
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    points = points[points[:, 2] > 0.0]
    z = points[:, 2]
    cols = np.round(fx * points[:, 0] / z + cx)
    rows = np.round(fy * points[:, 1] / z + cy)
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    flat = (rows[inside] * width + cols[inside]).astype(np.int64)
    z = z[inside]
    order = np.lexsort((z, flat))
    flat, z = flat[order], z[order]
    first = np.ones(len(flat), dtype=bool)
    first[1:] = flat[1:] != flat[:-1]
    depth = np.zeros(height * width, dtype=np.float32)
    depth[flat[first]] = z[first]
    return torch.from_numpy(depth.reshape(height, width))


class LidarGroundTruth:
    """
    Sparse ground-truth depth of one camera's frames from a run's laser scans.

    Scans are read once and kept, in the pose source's frame, while consecutive calls' windows
    need them (call in time order for speed; any order works).

    :param folder: the camera's image folder (``<run>/stereo/centre``).
    :param models_dir: the SDK's ``models`` folder.
    :param extrinsics_dir: the SDK's ``extrinsics`` folder.
    :param size: (height, width) of the undistorted, uncropped image.
    :param config: a :class:`LidarConfig` (or a mapping of one, or None: defaults).
    :param camera_model: the model's name; '' : the SDK's choice for the folder.
    :param crop: ``(top, bottom, left, right)`` pixels removed from the image after
        undistortion (the depth maps are of the cropped image).
    """

    def __init__(self, folder, models_dir, extrinsics_dir, size, config=None, camera_model='',
                 crop=(0, 0, 0, 0)):
        """Read the camera model, extrinsics, poses and the list of scans."""
        if isinstance(config, dict):
            config = LidarConfig.from_dict(config)
        self.config = config = config or LidarConfig()
        model = camera_model or camera_model_name(folder)
        (fx, fy, cx, cy), g_camera_image = read_camera_geometry(Path(models_dir) /
                                                                f'{model}.txt')
        top, bottom, left, right = (int(value) for value in crop)
        height, width = size
        self.height, self.width = height - top - bottom, width - left - right
        self.intrinsics = (fx, fy, cx - left, cy - top)
        camera = 'stereo' if model.startswith('stereo') else model
        g_camera_vehicle = read_extrinsics(extrinsics_dir, camera)
        g_vehicle_laser = read_extrinsics(extrinsics_dir, config.laser)
        run = run_folder(folder)
        if run is None and not (config.laser_dir and config.poses_file):
            raise ValueError(f'{folder}: not under a RobotCar run (<run>/stereo/...); set '
                             'laser_dir and poses_file')
        self.laser_dir = Path(config.laser_dir) if config.laser_dir else run / config.laser
        if config.poses_file:
            self.poses_file = Path(config.poses_file)
        else:
            self.poses_file = run / ('vo/vo.csv' if config.poses == 'vo' else 'gps/ins.csv')
        if not self.poses_file.is_file():
            raise FileNotFoundError(f'no {config.poses} poses {self.poses_file}')
        if config.poses == 'ins':
            g_vehicle_source = read_extrinsics(extrinsics_dir, 'ins')
            self.pose_times, self.poses = ins_poses(self.poses_file)
        else:
            g_vehicle_source = np.eye(4)
            self.pose_times, self.poses = vo_poses(self.poses_file)
        self.g_image_source = (np.linalg.inv(g_camera_image) @ g_camera_vehicle
                               @ g_vehicle_source)
        """Maps points of the pose source's frame to the image (optical) frame: 4 x 4."""
        self.g_source_laser = np.linalg.solve(g_vehicle_source, g_vehicle_laser)
        """Maps points of the laser's frame to the pose source's frame: 4 x 4."""
        self.scan_times = scan_times(self.laser_dir)
        self.cache = {}

    def scans(self, time):
        """
        Return the scans of the window around ``time``, in the pose source's world frame.

        :param time: the image time, int microseconds.
        :return: N x 3 float64 points.
        :raises ValueError: when the poses do not cover ``time``, or the window has no scan
            inside the poses' span (or only listed scans without files or points).
        """
        config = self.config
        first, last = self.pose_times[0], self.pose_times[-1]
        if not first <= time <= last:
            raise ValueError(f'{self.poses_file} covers {first} to {last}, not the image time '
                             f'{time}: the poses of another run?')
        start = max(time - int(round(config.before_s * 1e6)), first)
        stop = min(time + int(round(config.after_s * 1e6)), last)
        times = self.scan_times[(self.scan_times >= start) & (self.scan_times <= stop)]
        if len(times) == 0:
            raise ValueError(f'{self.laser_dir}: no scans from {start} to {stop} (image time '
                             f'{time}, window -{config.before_s} s / +{config.after_s} s, inside '
                             f'the poses of {self.poses_file})')
        wanted = set(times.tolist())
        self.cache = {key: value for key, value in self.cache.items() if key in wanted}
        missing = [stamp for stamp in times.tolist() if stamp not in self.cache]
        if missing:
            placed = interpolate_poses(self.pose_times, self.poses, missing) @ self.g_source_laser
            for stamp, pose in zip(missing, placed):
                path = self.laser_dir / f'{stamp}.bin'
                if not path.is_file():  # listed but not downloaded: skipped, as the SDK does
                    self.cache[stamp] = np.zeros((0, 3))
                    continue
                points = read_scan(path, self.config.laser)
                self.cache[stamp] = points @ pose[:3, :3].T + pose[:3, 3]
        points = np.concatenate([self.cache[stamp] for stamp in times.tolist()])
        if not any(len(self.cache[stamp]) for stamp in times.tolist()):
            raise ValueError(f'{self.laser_dir}: none of the {len(times)} scans from {start} to '
                             f'{stop} (image time {time}) has a file with points')
        return points

    def __call__(self, time):
        """
        Return the sparse depth of the (cropped) image taken at ``time``.

        :param time: int microseconds (the frame's file name).
        :return: H x W float32 tensor, metres along the optical axis, 0 where unknown.
        """
        points = self.scans(int(time))
        origin = interpolate_poses(self.pose_times, self.poses, [int(time)])[0]
        to_image = self.g_image_source @ np.linalg.inv(origin)
        points = points @ to_image[:3, :3].T + to_image[:3, 3]
        return nearest_depth(points, self.intrinsics, self.height, self.width)
