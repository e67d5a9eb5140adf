"""
Ground-truth depth maps from KITTI Velodyne scans.

Reads scans (``.bin``: float32 x, y, z, reflectance per point) and both KITTI calibration
layouts, and projects the points into a rectified camera image:

* KITTI raw: ``<date>/calib_cam_to_cam.txt`` (``P_rect_0c``, ``R_rect_00``, ``S_rect_0c``) and
  ``<date>/calib_velo_to_cam.txt`` (``R``, ``T``); ``<date>/calib_imu_to_velo.txt`` (``R``,
  ``T``) places the GPS/INS (:func:`raw_camera_from_imu`).
* KITTI object benchmark: ``calib/<frame>.txt`` (``P0``-``P3``, ``R0_rect``,
  ``Tr_velo_to_cam``).

Files are parsed by :mod:`defeat_ros.data.kitti_calib`. In both layouts a Velodyne point ``X``
lands at ``P_rect R_rect T_cam_velo X``: OpenCV-style pixel coordinates (pixel centres at
integers) and the depth along the rectified optical axis.

:func:`velodyne_depth` can instead reproduce the ground truth Monodepth2 exports for the Eigen
split (``export_gt_depth.py``, which projects with ``vel_depth`` on): points kept when their
Velodyne x is >= 0, pixels one up and one left of the rounded projection, and the Velodyne x
coordinate (forward from the scanner, about 0.27 m more than the camera's z on KITTI) as depth.
"""

from dataclasses import dataclass
from pathlib import Path

from defeat_ros.data.kitti_calib import projection, projection_intrinsics, read_calib_file
import numpy as np
import torch

RAW_CAM_TO_CAM = 'calib_cam_to_cam.txt'
RAW_VELO_TO_CAM = 'calib_velo_to_cam.txt'
RAW_IMU_TO_VELO = 'calib_imu_to_velo.txt'


@dataclass
class VelodyneCalibration:
    """Everything needed to project Velodyne points into one rectified camera."""

    projection: np.ndarray
    """3 x 4 rectified projection matrix P of the camera (pixels, centres at integers)."""
    t_rect_velo: np.ndarray
    """4 x 4 map from Velodyne points to the rectified reference camera: R_rect @ [R | T]."""
    image_size: tuple = None
    """(height, width) of the rectified image when the calibration states it (KITTI raw)."""

    def velo_to_image(self):
        """Return the 3 x 4 matrix taking homogeneous Velodyne points to (u z, v z, z)."""
        return self.projection @ self.t_rect_velo

    def t_camera_rect(self):
        """
        Return the 4 x 4 map from the rectified reference camera (0) to this rectified camera.

        A translation only: ``P = K [I | t]``, so ``t = K^-1 P[:, 3]`` (on KITTI about 6 cm
        for camera 2, -48 cm for camera 3).
        """
        transform = np.eye(4)
        transform[:3, 3] = np.linalg.solve(self.projection[:, :3], self.projection[:, 3])
        return transform

    def k_norm(self, height, width):
        """Normalised 3 x 3 intrinsics (corner convention, see geometry.py) of an H x W image."""
        return projection_intrinsics(self.projection, width, height)


def _homogeneous(rotation, translation):
    transform = np.eye(4)
    transform[:3, :3] = np.asarray(rotation, dtype=np.float64).reshape(3, 3)
    transform[:3, 3] = np.asarray(translation, dtype=np.float64).reshape(3)
    return transform


def _entry(values, key, size, path):
    value = values.get(key)
    if value is None or isinstance(value, str) or value.size != size:
        raise ValueError(f'{path}: {key} must hold {size} numbers, got {value!r}')
    return value


def read_raw_calibration(calib_dir, camera=2):
    """
    Read the KITTI raw calibration of camera ``camera`` (0-3) from a date folder.

    :param calib_dir: folder holding calib_cam_to_cam.txt and calib_velo_to_cam.txt.
    :return: VelodyneCalibration with the image size from ``S_rect_0c``.
    """
    cam_path = Path(calib_dir) / RAW_CAM_TO_CAM
    velo_path = Path(calib_dir) / RAW_VELO_TO_CAM
    cam = read_calib_file(cam_path)
    velo = read_calib_file(velo_path)
    rect = _homogeneous(_entry(cam, 'R_rect_00', 9, cam_path), np.zeros(3))
    t_cam_velo = _homogeneous(_entry(velo, 'R', 9, velo_path), _entry(velo, 'T', 3, velo_path))
    size = None
    if f'S_rect_0{camera}' in cam:
        width, height = _entry(cam, f'S_rect_0{camera}', 2, cam_path)
        size = (int(round(height)), int(round(width)))
    return VelodyneCalibration(projection(cam, f'P_rect_0{camera}', cam_path),
                               rect @ t_cam_velo, size)


def read_raw_imu_to_velo(calib_dir):
    """
    Read ``calib_imu_to_velo.txt`` of a KITTI raw date folder.

    :return: 4 x 4 float64 ``T_velo_imu`` (maps IMU coordinates to Velodyne coordinates).
    :raises FileNotFoundError: when the file is missing.
    """
    path = Path(calib_dir) / RAW_IMU_TO_VELO
    values = read_calib_file(path)
    return _homogeneous(_entry(values, 'R', 9, path), _entry(values, 'T', 3, path))


def raw_camera_from_imu(calib_dir, camera=2, calibration=None):
    """
    Return the map from IMU (oxts) coordinates to rectified camera ``camera`` of a date folder.

    ``T_camX_imu = T_camX_rect0 @ R_rect_00 @ T_cam0_velo @ T_velo_imu``: the translation of
    ``P_rect_0X`` (:meth:`VelodyneCalibration.t_camera_rect`), the rectifying rotation, the
    Velodyne and IMU calibrations.

    :param calib_dir: the date folder.
    :param calibration: its :func:`read_raw_calibration` for ``camera``, when already read.
    :return: 4 x 4 float64 transform.
    :raises FileNotFoundError: when a calibration file is missing.
    """
    calibration = calibration or read_raw_calibration(calib_dir, camera)
    return calibration.t_camera_rect() @ calibration.t_rect_velo @ read_raw_imu_to_velo(calib_dir)


def read_object_calibration(path, camera=2):
    """Read camera ``camera`` (0-3) of a KITTI object-benchmark ``calib/<frame>.txt``."""
    values = read_calib_file(path)
    velo = _entry(values, 'Tr_velo_to_cam', 12, path).reshape(3, 4)
    rect = _homogeneous(_entry(values, 'R0_rect', 9, path), np.zeros(3))
    return VelodyneCalibration(projection(values, f'P{camera}', path),
                               rect @ _homogeneous(velo[:, :3], velo[:, 3]))


def read_calibration(path, camera=2):
    """Read either layout: a KITTI raw date folder, or an object-benchmark calib file."""
    path = Path(path)
    if path.is_dir():
        return read_raw_calibration(path, camera)
    return read_object_calibration(path, camera)


def read_velodyne(path):
    """Read a Velodyne scan: N x 4 float32 array of x, y, z (metres) and reflectance."""
    data = np.fromfile(path, dtype=np.float32)
    if data.size % 4:
        raise ValueError(f'{path}: {data.size} floats is not a whole number of x y z r points')
    return data.reshape(-1, 4)


def velodyne_depth(points, calibration, height=None, width=None, monodepth2_shift=False):
    """
    Project a Velodyne scan into a sparse H x W depth map.

    By default points in front of the camera (positive depth along the rectified optical axis)
    are projected with the calibration; each lands in the pixel that contains it (column
    ``floor(u + 0.5)``, row ``floor(v + 0.5)`` for the calibration's integer pixel centres),
    points outside the image are dropped, and where several points share a pixel the nearest is
    kept. The depth is the camera's z.

    With ``monodepth2_shift`` the map is Monodepth2's exported Eigen ground truth
    (``generate_depth_map(..., vel_depth=True)`` in its ``kitti_utils.py``) instead:

    * points are kept when their Velodyne x (forward) is >= 0, not when their camera z is > 0
      (a point with x >= 0 but z <= 0, within 0.27 m ahead of the scanner, is still projected;
      z == 0 cannot be, and is dropped);
    * the pixel is one left of and one above the rounded projection, ``(round(u) - 1,
      round(v) - 1)`` (from a 1-based MATLAB original; ``round`` halves to even as NumPy's);
    * the depth is the point's Velodyne x, not its camera z (on KITTI about 0.27 m more), and
      the smallest x wins a shared pixel.

    :param points: N x 3 or N x 4 array (x, y, z[, reflectance]) in the Velodyne frame.
    :param calibration: VelodyneCalibration.
    :param height: image height; defaults to the calibration's image size.
    :param width: image width; defaults to the calibration's image size.
    :param monodepth2_shift: reproduce Monodepth2's exported ground truth (above); the
        published Eigen-split numbers were computed on it.
    :return: H x W float32 tensor of depths in metres, 0 where none: camera z by default,
        Velodyne x with ``monodepth2_shift``.
    """
    if height is None or width is None:
        if calibration.image_size is None:
            raise ValueError('give height and width: this calibration does not state its size')
        height, width = calibration.image_size
    xyz = np.asarray(points, dtype=np.float64)[:, :3]
    homogeneous = np.concatenate([xyz, np.ones((len(xyz), 1))], axis=1)
    projected = homogeneous @ calibration.velo_to_image().T  # N x 3: (u z, v z, z)
    if monodepth2_shift:
        kept = (xyz[:, 0] >= 0) & (projected[:, 2] != 0)
        depth = xyz[kept, 0]
    else:
        kept = projected[:, 2] > 0
        depth = projected[kept, 2]
    projected = projected[kept]
    u = projected[:, 0] / projected[:, 2]
    v = projected[:, 1] / projected[:, 2]
    if monodepth2_shift:
        column, row = np.round(u) - 1, np.round(v) - 1
    else:
        column, row = np.floor(u + 0.5), np.floor(v + 0.5)
    inside = (column >= 0) & (column < width) & (row >= 0) & (row < height)
    column = column[inside].astype(np.int64)
    row = row[inside].astype(np.int64)
    depth_map = np.full((height, width), np.inf)
    np.minimum.at(depth_map, (row, column), depth[inside])
    depth_map[np.isinf(depth_map)] = 0.0
    return torch.from_numpy(depth_map.astype(np.float32))
