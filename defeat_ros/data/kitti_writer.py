"""
Write a FrameSequence as a KITTI raw drive (camera 02) with ground truth in KITTI's formats.

The layout is the one KITTI raw loaders (pykitti, Monodepth2's ``KITTIRAWDataset``) read::

    root/<date>/calib_cam_to_cam.txt       cameras 00..03: calib_time, corner_dist, S_xx, K_xx,
                                           D_xx, R_xx, T_xx, S_rect_xx, R_rect_xx, P_rect_xx
    root/<date>/calib_velo_to_cam.txt      calib_time, R, T, delta_f, delta_c
    root/<date>/calib_imu_to_velo.txt      calib_time, R, T
    root/<date>/<date>_drive_<NNNN>_sync/
        image_02/timestamps.txt            one 'YYYY-MM-DD HH:MM:SS.nnnnnnnnn' line per frame
        oxts/timestamps.txt                the same: one GPS/INS packet per frame
        oxts/data/<index>.txt              the packet: 30 values (see kitti_oxts.py)
        image_02/data/<index>.png          RGB frames (``.jpg`` with ``image_format='jpg'``)
        proj_depth/groundtruth/image_02/<index>.png
                                           depth benchmark format: uint16 metres * 256,
                                           0 where there is no depth (inf, or beyond 255 m)
        moving/image_02/<index>.png        uint8 255 on independently moving objects, else 0
        semantic/image_02/<index>.png      uint8 Cityscapes label-file ids per pixel (road 7,
                                           car 26, moving car 34, sky 23...; 0 unlabelled; see
                                           defeat_ros/semantics.py); only for sequences with
                                           ``labels``
        velodyne_points/timestamps.txt     the image timestamps again: one scan per frame
        velodyne_points/data/<index>.bin   LiDAR scan from the exact depth (see below): float32
                                           x y z reflectance per point, KITTI's Velodyne axes
        poses.txt                          KITTI odometry format (see below)

``<index>`` is the frame number zero-padded to 10 digits, ``<NNNN>`` the drive number padded
to 4. Calibration: the sequence's camera is camera 02 and also the rectified reference, so
``R_rect_00`` is the identity and ``P_rect_00 == P_rect_02`` (no lens distortion,
``D_xx = 0``; K and P hold OpenCV pixel intrinsics, pixel centres at integers). Cameras 00,
01 and 03 have no images; 01 and 03 are described 0.54 m to the right (KITTI's baseline) so
that parsers computing stereo baselines from the projection matrices get sensible numbers.
The velodyne sits at the camera with KITTI's axes (x forward, y left, z up); the IMU coincides
with it. ``poses.txt`` follows the KITTI odometry benchmark: line i is the row-major top 3 x 4
of the camera-i-to-camera-0 transform ``inv(T_world_camera_0) @ T_world_camera_i`` (optical
frames), so the first line is the identity. Timestamps start at noon of ``date``.

The Velodyne scans are a sparse LiDAR-like sampling of the exact depth
(:func:`velodyne_scan`): :data:`VELODYNE_ELEVATIONS` scan lines (an HDL-64E's 64 lasers from
+2 to -24.3 degrees) of rays :data:`VELODYNE_AZIMUTH_STEP` apart; where a ray meets a pixel with
a finite depth of at most :data:`VELODYNE_RANGE` m, the scan holds the point of that pixel's
centre at its depth, so projecting the scan with the written calibration (as
``defeat_ros.evaluation.velodyne.velodyne_depth`` does) gives back the exact depth, to float32
precision, at every pixel it covers, and nothing elsewhere. Nothing outside the camera's view
is scanned, there is no rolling-shutter or scan-timing distortion, and the reflectance is the
pixel's grey level in [0, 1].

The oxts packets are what an INS would report of the ground-truth motion of the body frame at
the camera (:func:`~defeat_ros.data.body_motion.body_trajectory`): its velocity (``vf vl vu``,
REP-103 x y z, from :func:`~defeat_ros.data.body_motion.body_twists`) with Gaussian noise of
:data:`VELOCITY_NOISE` m/s per axis (seeded: every write gives the same packets), ``vn ve``
the same noisy velocity turned east/north, the exact angular rates (``wx wy wz`` and, the IMU
being level with the body, the same ``wf wl wu``) and the specific force (acceleration plus
gravity, in the body frame) of the noiseless velocities. The drive starts at :data:`OXTS_ORIGIN`
heading east (yaw 0), the first body frame's x y z being east, north, up; latitude and longitude
are the inverse of the Mercator projection the raw devkit turns packets into poses with (its
scale taken at the first packet's latitude), so that it gives the trajectory back. Accuracies
are :data:`POSITION_ACCURACY` and :data:`VELOCITY_NOISE`; status and mode codes are the fixed
:data:`OXTS_STATUS` (nothing here derives them).
"""

from datetime import datetime, timedelta
from pathlib import Path

import cv2
from defeat_ros.data.body_motion import body_trajectory, body_twists
from defeat_ros.data.kitti_oxts import EARTH_RADIUS, oxts_line
from defeat_ros.geometry import invert_pose, pixel_intrinsics_opencv, R_OPTICAL_BODY
from defeat_ros.messages.image_encoding import encode_jpeg
import numpy as np
import torch

IMAGE_FORMATS = ('png', 'jpg')
"""Image file formats of ``image_02/data``: KITTI's PNG, or the JPEG that Monodepth2 uses."""

DEPTH_SCALE = 256.0
"""KITTI depth PNGs store metres * 256 as uint16."""

MAX_DEPTH = 255.0
"""Depths beyond this (metres) are written as 0 (no depth): uint16 / 256 cannot hold much more."""

STEREO_BASELINE = 0.54
"""Metres from camera 00/02 to the (image-less) cameras 01/03, as in KITTI."""

OXTS_ORIGIN = (49.0, 8.4, 110.0)
"""Latitude (degrees north), longitude (degrees east) and altitude (m) of the first packet."""

GRAVITY = 9.81
"""m/s^2, the gravity an accelerometer at rest measures upwards."""

VELOCITY_NOISE = 0.02
"""m/s, standard deviation of the noise on each axis of the written velocities."""

POSITION_ACCURACY = 0.05
"""Metres, the ``pos_accuracy`` written (the positions themselves are exact)."""

OXTS_STATUS = (4, 10, 4, 4, 4)
"""``navstat numsats posmode velmode orimode`` of every written packet."""

OXTS_SEED = 0
"""Seed of the velocity noise."""

VELODYNE_ELEVATIONS = np.concatenate([np.linspace(2.0, -8.33, 32), np.linspace(-8.83, -24.33, 32)])
"""Degrees above the horizontal of the 64 synthesised scan lines, top first (HDL-64E-like: an
upper block 1/3 degree apart, a lower one 1/2 degree apart)."""

VELODYNE_AZIMUTH_STEP = 0.18
"""Degrees between the rays of a scan line (an HDL-64E's at KITTI's 10 Hz: about 20000 points
fall in a 1242 x 375 KITTI image, as in KITTI's scans)."""

VELODYNE_RANGE = 120.0
"""Metres: depths beyond this give no LiDAR return (an HDL-64E reaches about 120 m)."""

_MONTHS = ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')


def images_uint8(images):
    """Quantise RGB F x 3 x H x W in [0, 1] to uint8 images F x H x W x 3 (numpy)."""
    scaled = (images.detach().float().cpu().clamp(0.0, 1.0) * 255.0).round()
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def depth_png(depth):
    """Encode one depth map H x W (metres, numpy) in the KITTI depth-benchmark uint16 format."""
    depth = np.asarray(depth, dtype=np.float64)
    valid = np.isfinite(depth) & (depth > 0.0) & (depth <= MAX_DEPTH)
    encoded = np.maximum(np.round(np.where(valid, depth, 0.0) * DEPTH_SCALE), 1.0)
    return np.where(valid, encoded, 0.0).astype(np.uint16)


def format_values(values):
    """Format numbers as KITTI calibration and pose files do (space-separated, exponent form)."""
    return ' '.join(f'{float(v) + 0.0:.12e}' for v in np.ravel(values))  # + 0.0: no '-0'


def calib_time(day):
    """Return KITTI's ``calib_time`` text (e.g. ``09-Jan-2012 12:00:00``) for a date."""
    return f'{day.day:02d}-{_MONTHS[day.month - 1]}-{day.year} 12:00:00'


def calib_cam_to_cam(k_norm, height, width, day):
    """
    Return the text of ``calib_cam_to_cam.txt`` for one undistorted camera as camera 02.

    :param k_norm: 3 x 3 normalised intrinsics (corner convention).
    :param height: image height in pixels.
    :param width: image width in pixels.
    :param day: the drive's date (``datetime``).
    :return: the file's text, one ``key: values`` line per entry.
    """
    fx, fy, cx, cy = pixel_intrinsics_opencv(k_norm, height, width)
    k_pix = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    lines = [f'calib_time: {calib_time(day)}', f'corner_dist: {format_values([0.0995])}']
    for camera in range(4):
        translation = np.array([-STEREO_BASELINE if camera % 2 else 0.0, 0.0, 0.0])
        projection = np.concatenate([k_pix, (k_pix @ translation)[:, None]], axis=1)
        entries = [('S', [width, height]), ('K', k_pix), ('D', np.zeros(5)), ('R', np.eye(3)),
                   ('T', translation), ('S_rect', [width, height]), ('R_rect', np.eye(3)),
                   ('P_rect', projection)]
        lines += [f'{key}_{camera:02d}: {format_values(value)}' for key, value in entries]
    return '\n'.join(lines) + '\n'


def calib_rigid(day, rotation, extra=()):
    """Return the text of a rigid-transform calibration file (``R``, ``T`` and ``extra`` keys)."""
    entries = [('R', rotation), ('T', np.zeros(3)), *extra]
    lines = [f'calib_time: {calib_time(day)}']
    lines += [f'{key}: {format_values(value)}' for key, value in entries]
    return '\n'.join(lines) + '\n'


def timestamps_text(stamps, day):
    """Return ``timestamps.txt``: one 'YYYY-MM-DD HH:MM:SS.nnnnnnnnn' line per stamp (seconds)."""
    noon = day + timedelta(hours=12)
    lines = []
    for stamp in stamps.tolist():
        seconds, nanoseconds = divmod(round(stamp * 1e9), 10 ** 9)
        lines.append(f'{noon + timedelta(seconds=seconds):%Y-%m-%d %H:%M:%S}.{nanoseconds:09d}')
    return '\n'.join(lines) + '\n'


def poses_text(poses):
    """Return ``poses.txt`` (KITTI odometry): camera-i-to-camera-0 transforms, 12 values a line."""
    poses = poses.detach().to(torch.float64).cpu()
    relative = invert_pose(poses[:1]) @ poses
    return ''.join(format_values(pose[:3].numpy()) + '\n' for pose in relative)


def mercator_to_lat_lon(east, north, latitude, longitude):
    """
    Return the latitude and longitude of points east and north of an origin, in degrees.

    The inverse of the raw devkit's Mercator projection, scaled at the origin's latitude.

    :param east: N metres east of the origin.
    :param north: N metres north of the origin.
    :param latitude: the origin's latitude in degrees.
    :param longitude: the origin's longitude in degrees.
    :return: (N latitudes, N longitudes) in degrees.
    """
    radius = EARTH_RADIUS * np.cos(np.radians(latitude))
    origin_x = radius * np.radians(longitude)
    origin_y = radius * np.log(np.tan(np.radians(90.0 + latitude) / 2.0))
    longitudes = np.degrees((origin_x + east) / radius)
    latitudes = 2.0 * np.degrees(np.arctan(np.exp((origin_y + north) / radius))) - 90.0
    return latitudes, longitudes


def oxts_packets(poses, stamps):
    """
    Return the oxts packets an INS would record along a camera trajectory (module docstring).

    :param poses: F x 4 x 4 ``T_world_camera`` (optical camera frames).
    :param stamps: F increasing capture times in seconds (tensor).
    :return: F x 30 float64 packets (:data:`~defeat_ros.data.kitti_oxts.OXTS_FIELDS` order).
    """
    trajectory = body_trajectory(poses)
    linear, angular = (twist.numpy() for twist in body_twists(trajectory, stamps))
    trajectory = trajectory.numpy()
    rotations = trajectory[:, :3, :3]  # body to east-north-up
    noisy = linear + np.random.default_rng(OXTS_SEED).normal(0.0, VELOCITY_NOISE, linear.shape)
    east_north_up = np.einsum('fij,fj->fi', rotations, noisy)
    seconds = stamps.detach().double().cpu().numpy()
    if len(seconds) > 1:
        true_velocity = np.einsum('fij,fj->fi', rotations, linear)
        acceleration = np.gradient(true_velocity, seconds, axis=0)
    else:
        acceleration = np.zeros((len(seconds), 3))
    specific_force = np.einsum('fji,fj->fi', rotations, acceleration + [0.0, 0.0, GRAVITY])
    latitude, longitude, altitude = OXTS_ORIGIN
    lat, lon = mercator_to_lat_lon(trajectory[:, 0, 3], trajectory[:, 1, 3], latitude, longitude)
    roll = np.arctan2(rotations[:, 2, 1], rotations[:, 2, 2])
    pitch = np.arcsin(np.clip(-rotations[:, 2, 0], -1.0, 1.0))
    yaw = np.arctan2(rotations[:, 1, 0], rotations[:, 0, 0])
    count = len(seconds)
    columns = [lat, lon, altitude + trajectory[:, 2, 3], roll, pitch, yaw,
               east_north_up[:, 1], east_north_up[:, 0], *noisy.T, *specific_force.T,
               *specific_force.T, *angular.T, *angular.T, np.full(count, POSITION_ACCURACY),
               np.full(count, VELOCITY_NOISE), *(np.full(count, code) for code in OXTS_STATUS)]
    return np.stack(columns, axis=1).astype(np.float64)


def velodyne_scan(depth, k_norm, reflectance=None):
    """
    Return a LiDAR-like scan of one exact depth map in KITTI's Velodyne format (module docstring).

    The Velodyne sits at the camera (``T_cam_velo`` = ``R_OPTICAL_BODY``, no translation). Its
    rays are the scan lines of :data:`VELODYNE_ELEVATIONS` (elevation ``e``) at the azimuths
    ``a`` (right of forward) that are multiples of :data:`VELODYNE_AZIMUTH_STEP` inside the
    image: a ray meets the image at ``u = cx + fx tan(a)``, ``v = cy - fy tan(e) / cos(a)``
    (OpenCV pixel centres). Each pixel a ray meets, with a finite depth in (0,
    :data:`VELODYNE_RANGE`], gives the point of the pixel's centre at that depth, once (rays
    meeting the same pixel share the point; on small images every column is met).

    :param depth: H x W z-depth in metres (numpy or tensor; inf / NaN / 0 where unknown).
    :param k_norm: 3 x 3 normalised intrinsics (corner convention).
    :param reflectance: optional H x W values in [0, 1] for the fourth column (default 0).
    :return: N x 4 float32 array, x forward, y left, z up (metres) and reflectance, ordered by
        scan line (top first), then by azimuth (left first).
    """
    depth = np.asarray(depth, dtype=np.float64)
    height, width = depth.shape
    fx, fy, cx, cy = pixel_intrinsics_opencv(k_norm, height, width)
    step = np.radians(VELODYNE_AZIMUTH_STEP)
    first, last = np.arctan((np.array([-0.5, width - 0.5]) - cx) / fx) / step
    azimuths = np.arange(np.ceil(first), np.floor(last) + 1) * step
    columns = np.floor(cx + fx * np.tan(azimuths) + 0.5)
    rows = np.floor(cy - fy * np.tan(np.radians(VELODYNE_ELEVATIONS))[:, None]
                    / np.cos(azimuths) + 0.5)
    columns = np.broadcast_to(columns, rows.shape)
    inside = (rows >= 0) & (rows < height) & (columns >= 0) & (columns < width)
    index = rows[inside].astype(np.int64) * width + columns[inside].astype(np.int64)
    _, once = np.unique(index, return_index=True)
    index = index[np.sort(once)]  # each pixel once, in scan order
    row, column = np.divmod(index, width)
    z = depth[row, column]
    keep = np.isfinite(z) & (z > 0.0) & (z <= VELODYNE_RANGE)
    row, column, z = row[keep], column[keep], z[keep]
    optical = np.stack([(column - cx) / fx * z, (row - cy) / fy * z, z], axis=1)
    grey = (np.zeros(len(z)) if reflectance is None
            else np.asarray(reflectance, dtype=np.float64)[row, column])
    return np.concatenate([optical @ R_OPTICAL_BODY, grey[:, None]], axis=1).astype(np.float32)


def write_png(path, array):
    """Write an image as PNG with OpenCV, raising ``OSError`` when it cannot be written."""
    if not cv2.imwrite(str(path), array):
        raise OSError(f'could not write {path}')


def check_unchanged(path, text):
    """Raise ``FileExistsError`` when ``path`` exists with contents other than ``text``."""
    if path.exists() and path.read_text() != text:
        raise FileExistsError(f'{path} exists with different contents; drives of one date '
                              'share their calibration, so write this drive under another '
                              'date or root')


def write_kitti_raw(sequence, root, date='2011_09_26', drive=1, image_format='png',
                    jpeg_quality=90):
    """
    Write ``sequence`` as KITTI raw drive ``<date>_drive_<NNNN>_sync`` under ``root``.

    See the module docstring for the layout. Several drives may share a date folder when their
    calibration is identical.

    :param sequence: the :class:`~defeat_ros.data.frame_sequence.FrameSequence` to write.
    :param root: dataset root (created if missing); holds one folder per date.
    :param date: ``YYYY_MM_DD``.
    :param drive: drive number, 0..9999.
    :param image_format: ``'png'`` or ``'jpg'``.
    :param jpeg_quality: JPEG quality 0..100 when ``image_format`` is ``'jpg'``.
    :return: the drive folder.
    :raises ValueError: for an unknown image format, a malformed date or drive number.
    :raises FileExistsError: when the drive folder exists, or the date's calibration files
        exist with different contents.
    """
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f'image_format must be one of {IMAGE_FORMATS}, got {image_format!r}')
    try:
        day = datetime.strptime(date, '%Y_%m_%d')
    except (TypeError, ValueError):
        raise ValueError(f'date must look like 2011_09_26, got {date!r}') from None
    if isinstance(drive, bool) or not isinstance(drive, int) or not 0 <= drive <= 9999:
        raise ValueError(f'drive must be an integer in 0..9999, got {drive!r}')
    if not 0 <= jpeg_quality <= 100:
        raise ValueError(f'jpeg_quality must be in 0..100, got {jpeg_quality!r}')
    if len(sequence) == 0:
        raise ValueError('the sequence has no frames')

    date_dir = Path(root) / date
    drive_dir = date_dir / f'{date}_drive_{drive:04d}_sync'
    if drive_dir.exists():
        raise FileExistsError(f'{drive_dir} exists already, not overwriting')
    calibration = {
        'calib_cam_to_cam.txt': calib_cam_to_cam(sequence.k_norm, sequence.height,
                                                 sequence.width, day),
        'calib_velo_to_cam.txt': calib_rigid(day, R_OPTICAL_BODY,
                                             [('delta_f', [1.0, 1.0]), ('delta_c', [0.0, 0.0])]),
        'calib_imu_to_velo.txt': calib_rigid(day, np.eye(3)),
    }
    for name, text in calibration.items():
        check_unchanged(date_dir / name, text)
    drive_dir.mkdir(parents=True)
    for name, text in calibration.items():
        if not (date_dir / name).exists():
            (date_dir / name).write_text(text)

    names = ['image_02/data', 'proj_depth/groundtruth/image_02', 'moving/image_02',
             'velodyne_points/data']
    if sequence.labels is not None:
        names.append('semantic/image_02')
    folders = {name: drive_dir / name for name in names}
    for folder in folders.values():
        folder.mkdir(parents=True)
    images = images_uint8(sequence.images)
    depths = sequence.depths[:, 0].detach().double().cpu().numpy()
    moving = sequence.moving[:, 0].detach().cpu().numpy()
    labels = (None if sequence.labels is None
              else sequence.labels[:, 0].detach().cpu().to(torch.uint8).numpy())
    for index in range(len(sequence)):
        name = f'{index:010d}'
        image_path = folders['image_02/data'] / f'{name}.{image_format}'
        if image_format == 'jpg':
            image_path.write_bytes(encode_jpeg(images[index], jpeg_quality).tobytes())
        else:
            write_png(image_path, cv2.cvtColor(images[index], cv2.COLOR_RGB2BGR))
        write_png(folders['proj_depth/groundtruth/image_02'] / f'{name}.png',
                  depth_png(depths[index]))
        write_png(folders['moving/image_02'] / f'{name}.png',
                  np.where(moving[index], 255, 0).astype(np.uint8))
        if labels is not None:
            write_png(folders['semantic/image_02'] / f'{name}.png', labels[index])
        velodyne_scan(depths[index], sequence.k_norm, images[index].mean(axis=2) / 255.0).tofile(
            folders['velodyne_points/data'] / f'{name}.bin')
    timestamps = timestamps_text(sequence.stamps, day)
    (drive_dir / 'image_02' / 'timestamps.txt').write_text(timestamps)
    (drive_dir / 'velodyne_points' / 'timestamps.txt').write_text(timestamps)
    (drive_dir / 'oxts' / 'data').mkdir(parents=True)
    (drive_dir / 'oxts' / 'timestamps.txt').write_text(timestamps)
    for index, packet in enumerate(oxts_packets(sequence.poses, sequence.stamps)):
        (drive_dir / 'oxts' / 'data' / f'{index:010d}.txt').write_text(oxts_line(packet) + '\n')
    (drive_dir / 'poses.txt').write_text(poses_text(sequence.poses))
    return drive_dir
