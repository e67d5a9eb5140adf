"""
Write a FrameSequence as an Oxford RobotCar run, with the SDK's camera model and extrinsics.

The layout is the one the RobotCar SDK and :mod:`defeat_ros.data.robotcar` read::

    root/models/stereo_narrow_left.txt       ``fx fy cx cy`` (pixels, centres at integers), then
                                             the SDK's 4 x 4 ``G_camera_image``
    root/models/stereo_narrow_left_distortion_lut.bin
                                             the identity undistortion table (float64: every
                                             pixel's x, then every pixel's y)
    root/extrinsics/stereo.txt               ``0 0 0 0 0 0``: the vehicle frame is the camera's
    root/extrinsics/lms_front.txt            the push-broom laser (see below)
    root/extrinsics/ins.txt                  :data:`INS_EXTRINSICS`
    root/<run>/stereo/centre/<timestamp>.png raw Bayer frames (``gbrg``, the SDK's stereo
                                             pattern), as downloaded
    root/<run>/stereo.timestamps             ``<timestamp> 1`` per frame
    root/<run>/vo/vo.csv                     one row per consecutive pair of frames
    root/<run>/gps/ins.csv                   one INS solution per frame
    root/<run>/lms_front/<timestamp>.bin     one scan per frame: float64 x, y, reflectance
    root/<run>/lms_front.timestamps          ``<timestamp> 1`` per scan

Frames are stored as single-channel Bayer images with an identity undistortion table, so the
loader's default ``undistort: auto`` demosaics and "undistorts" them as it does downloaded
frames (demosaicing blurs colour edges a little; the geometry is untouched). Timestamps are
``start_us`` plus the sequence's stamps, in microseconds.

Frames and poses follow the SDK (see :mod:`defeat_ros.evaluation.robotcar_lidar`): the
vehicle frame is the stereo camera's, x forward, y right, z down, ``G_camera_image`` taking the
optical frame to it, so ``T_world_vehicle = T_world_camera inv(G_camera_image)``; transforms
are written as ``x y z roll pitch yaw`` with ``R = Rz(yaw) Ry(pitch) Rx(roll)``. A vo.csv row
holds the pose of the frame at its ``source_timestamp`` (frame k) relative to the one at its
``destination_timestamp`` (frame k - 1). The INS sits at :data:`INS_EXTRINSICS` in the vehicle
frame; the run starts at :data:`UTM_ORIGIN` with the first vehicle frame's axes north, east
and down, and ins.csv holds the INS's poses (``northing easting down roll pitch yaw``), its
velocity (finite differences of its positions, north east down) and, for completeness only, a
latitude and longitude from a flat-earth approximation around :data:`LAT_LON_ORIGIN`.

The laser. The SDK's ``lms_front`` is a 2-D scanner whose plane, tilted down, sweeps the
street as the car drives. Here the scan plane is the one through the camera centre that
contains the viewing rays of one image row below the horizon (``laser_row`` of the height), so
the laser sees exactly what that row sees: the scan of frame k is the row's pixels of frame k
with finite depth, lifted to 3-D with the exact depth and expressed in the laser's frame (they
lie in its z = 0 plane to rounding). The laser sits :data:`LASER_OFFSET` m down the row's
central ray from the camera, its x axis along that ray, its y axis to the right, z = x cross y;
points farther than ``max_range`` from it (the LMS-151's 50 m) are not written, and the
reflectance is the pixel's grey level in [0, 1] (a stand-in). Moving objects are scanned like
everything else, so, as with real scans, they smear when scans are accumulated. Projected
back into frame k, frame k's scan falls exactly on the row's pixel centres with the exact
depth; other frames' scans land between pixel centres.
"""

from dataclasses import dataclass
from pathlib import Path

from defeat_ros.data.kitti_writer import images_uint8, write_png
from defeat_ros.data.robotcar import BAYER_PATTERNS
from defeat_ros.data.robotcar_vo import euler_to_so3
from defeat_ros.geometry import invert_pose, pixel_intrinsics_opencv
import numpy as np
import torch

RUN = '2014-12-09-13-21-02'
"""Default run folder name (RobotCar names runs by their start time)."""

START_US = 1418131262000000
"""Default time of the first frame, microseconds since 1970 (2014-12-09 13:21:02 UTC)."""

CAMERA_MODEL = 'stereo_narrow_left'
"""The model the SDK uses for ``stereo/centre`` frames."""

G_CAMERA_IMAGE = np.array([[0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0],
                           [0.0, 0.0, 0.0, 1.0]])
"""The SDK's ``G_camera_image``: optical axes (x right, y down, z forward) to x fwd, y right,
z down."""

LASER = 'lms_front'
"""The laser written."""

LASER_ROW = 0.75
"""Default image row (fraction of the height) whose viewing rays span the scan plane."""

LASER_OFFSET = 1.0
"""Metres from the camera centre to the laser, down the scan row's central ray."""

MAX_RANGE = 50.0
"""Default largest range (m) a scan point may have from the laser (the SICK LMS-151's)."""

INS_EXTRINSICS = (-1.7, 0.1, 1.2, -0.01, 0.04, 0.005)
"""``x y z roll pitch yaw`` of the INS in the vehicle frame (near the SDK's ins.txt)."""

UTM_ORIGIN = (5735000.0, 620000.0, -110.0)
"""Northing, easting and down (m) of the first vehicle pose (Oxford, UTM zone 30U)."""

LAT_LON_ORIGIN = (51.75, -1.25)
"""Latitude and longitude (degrees) written at :data:`UTM_ORIGIN`."""

METRES_PER_DEGREE = 111320.0
"""Metres per degree of latitude of the flat-earth latitude and longitude."""

VO_HEADER = 'source_timestamp,destination_timestamp,x,y,z,roll,pitch,yaw'
INS_HEADER = ('timestamp,ins_status,latitude,longitude,altitude,northing,easting,down,utm_zone,'
              'velocity_north,velocity_east,velocity_down,roll,pitch,yaw')


@dataclass
class RobotCarRun:
    """Where :func:`write_robotcar_run` put a run."""

    folder: Path
    """The image folder, ``<root>/<run>/stereo/centre``."""
    run: Path
    """The run folder."""
    models_dir: Path
    """The camera models folder."""
    extrinsics_dir: Path
    """The extrinsics folder."""
    times: np.ndarray
    """F int64 frame (and scan) times, microseconds."""
    laser_row: int
    """The image row the scan plane contains."""


def so3_to_euler(rotation):
    """
    Return the roll, pitch and yaw of ``Rz(yaw) Ry(pitch) Rx(roll)`` rotations.

    :param rotation: 3 x 3 (or N x 3 x 3) rotation matrices.
    :return: 3 (or N x 3) float64 roll, pitch, yaw in radians (pitch in [-pi/2, pi/2]).
    """
    r = np.asarray(rotation, dtype=np.float64)
    roll = np.arctan2(r[..., 2, 1], r[..., 2, 2])
    pitch = np.arcsin(np.clip(-r[..., 2, 0], -1.0, 1.0))
    yaw = np.arctan2(r[..., 1, 0], r[..., 0, 0])
    return np.stack([roll, pitch, yaw], axis=-1)


def xyzrpy(transform):
    """Return the six SDK values ``x y z roll pitch yaw`` of a 4 x 4 (or N x 4 x 4) transform."""
    transform = np.asarray(transform, dtype=np.float64)
    return np.concatenate([transform[..., :3, 3], so3_to_euler(transform[..., :3, :3])], axis=-1)


def se3_values(values):
    """Return the 4 x 4 transform of ``x y z roll pitch yaw`` (six numbers)."""
    out = np.eye(4)
    out[:3, :3] = euler_to_so3(np.asarray(values, dtype=np.float64)[None, 3:6])[0]
    out[:3, 3] = values[:3]
    return out


def number(value):
    """Format a number exactly (float64 repr digits), without a '-0'."""
    return repr(float(value) + 0.0)


def numbers(values):
    """Format numbers as one space-separated line, exact to float64."""
    return ' '.join(number(value) for value in np.ravel(values))


def mosaic(rgb, pattern):
    """
    Sample RGB images with a Bayer pattern, as a colour camera's raw frame.

    :param rgb: H x W x 3 uint8.
    :param pattern: four letters, the first row's two colours then the second row's (``gbrg``).
    :return: H x W uint8.
    """
    out = np.zeros(rgb.shape[:2], dtype=np.uint8)
    for position, colour in enumerate(pattern):
        row, col = divmod(position, 2)
        out[row::2, col::2] = rgb[row::2, col::2, 'rgb'.index(colour)]
    return out


def vehicle_poses(poses):
    """
    Return the vehicle (stereo camera) poses of optical camera poses.

    :param poses: F x 4 x 4 ``T_world_camera`` (optical frames).
    :return: F x 4 x 4 float64 ``T_world_vehicle = T_world_camera inv(G_camera_image)``.
    """
    return poses.detach().double().cpu().numpy() @ np.linalg.inv(G_CAMERA_IMAGE)


def laser_mount(intrinsics, row):
    """
    Return the laser's pose in the optical frame: its x-y plane holds the rays of an image row.

    :param intrinsics: (fx, fy, cx, cy) pixels, centres at integers.
    :param row: the image row (below the principal point).
    :return: 4 x 4 float64 ``T_optical_laser``.
    """
    fx, fy, cx, cy = intrinsics
    forward = np.array([0.0, (row - cy) / fy, 1.0])
    forward /= np.linalg.norm(forward)
    right = np.array([1.0, 0.0, 0.0])
    mount = np.eye(4)
    mount[:3, :3] = np.stack([forward, right, np.cross(forward, right)], axis=1)
    mount[:3, 3] = LASER_OFFSET * forward
    return mount


def row_scan(depth, grey, intrinsics, row, t_laser_optical, max_range):
    """
    Return one scan: the points an image row sees, in the laser's frame.

    :param depth: H x W float64 z-depth (inf: nothing).
    :param grey: H x W grey levels in [0, 1] (the reflectance written).
    :param intrinsics: (fx, fy, cx, cy) pixels, centres at integers.
    :param row: the image row the scan plane holds.
    :param t_laser_optical: 4 x 4 optical-to-laser transform.
    :param max_range: largest range kept (m from the laser).
    :return: N x 3 float64 ``x, y, reflectance`` (the points' laser z, zero up to rounding,
        is dropped).
    """
    fx, fy, cx, cy = intrinsics
    z = depth[row]
    columns = np.arange(len(z), dtype=np.float64)
    finite = np.isfinite(z) & (z > 0.0)
    points = np.stack([(columns - cx) / fx * z, np.full_like(z, (row - cy) / fy) * z, z],
                      axis=1)[finite]
    laser = points @ t_laser_optical[:3, :3].T + t_laser_optical[:3, 3]
    keep = np.linalg.norm(laser, axis=1) <= max_range
    return np.concatenate([laser[keep, :2], grey[row][finite][keep, None]], axis=1)


def vo_rows(times, poses):
    """
    Return vo.csv rows of consecutive vehicle poses.

    :param times: F int64 microseconds.
    :param poses: F x 4 x 4 ``T_world_vehicle``.
    :return: the text: the header, then per frame k >= 1 ``times[k], times[k-1]`` and the
        ``x y z roll pitch yaw`` of ``inv(T_world_vehicle[k-1]) T_world_vehicle[k]``.
    """
    steps = xyzrpy(np.linalg.inv(poses[:-1]) @ poses[1:])
    lines = [VO_HEADER]
    for k, step in enumerate(steps, start=1):
        lines.append(f'{times[k]},{times[k - 1]},' + numbers(step).replace(' ', ','))
    return '\n'.join(lines) + '\n'


def ins_rows(times, poses):
    """
    Return ins.csv rows of the INS carried by the vehicle (see the module docstring).

    :param times: F int64 microseconds.
    :param poses: F x 4 x 4 ``T_world_vehicle``.
    :return: the text: the header, then one solution per frame.
    """
    ins = np.linalg.inv(poses[:1]) @ poses @ se3_values(INS_EXTRINSICS)
    values = xyzrpy(ins)
    ned = values[:, :3] + UTM_ORIGIN
    seconds = (times - times[0]) / 1e6
    velocity = (np.gradient(ned, seconds, axis=0) if len(times) > 1
                else np.zeros((len(times), 3)))
    latitude = LAT_LON_ORIGIN[0] + (ned[:, 0] - UTM_ORIGIN[0]) / METRES_PER_DEGREE
    longitude = LAT_LON_ORIGIN[1] + (ned[:, 1] - UTM_ORIGIN[1]) / (
        METRES_PER_DEGREE * np.cos(np.radians(LAT_LON_ORIGIN[0])))
    lines = [INS_HEADER]
    for k in range(len(times)):
        columns = [str(times[k]), 'INS_SOLUTION_GOOD', number(latitude[k]),
                   number(longitude[k]), number(-ned[k, 2]), *map(number, ned[k]), '30U',
                   *map(number, velocity[k]), *map(number, values[k, 3:])]
        lines.append(','.join(columns))
    return '\n'.join(lines) + '\n'


def write_shared(path, data):
    """
    Write a file the runs of one root share (models, extrinsics), or check that it is the same.

    :raises FileExistsError: when ``path`` exists with other contents.
    """
    if path.exists():
        if path.read_bytes() != data:
            raise FileExistsError(f'{path} exists with different contents; write this run '
                                  'under another root')
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_robotcar_run(sequence, root, run=RUN, start_us=START_US, laser_row=LASER_ROW,
                       max_range=MAX_RANGE):
    """
    Write ``sequence`` as RobotCar run ``<root>/<run>`` (see the module docstring).

    :param sequence: the :class:`~defeat_ros.data.frame_sequence.FrameSequence` to write.
    :param root: folder of the run, ``models`` and ``extrinsics`` (created if missing).
    :param run: the run's folder name.
    :param start_us: time of the first frame, microseconds.
    :param laser_row: the scanned image row as a fraction of the height (below the principal
        point).
    :param max_range: largest range of a scan point (m).
    :return: a :class:`RobotCarRun`.
    :raises ValueError: for an empty sequence, or a row at or above the principal point.
    :raises FileExistsError: when the run exists, or a shared model or extrinsics file exists
        with other contents.
    """
    if len(sequence) == 0:
        raise ValueError('the sequence has no frames')
    height, width = sequence.height, sequence.width
    intrinsics = pixel_intrinsics_opencv(sequence.k_norm, height, width)
    row = min(height - 1, int(laser_row * height))
    if row <= intrinsics[3]:
        raise ValueError(f'laser_row {laser_row} gives image row {row}, not below the principal '
                         f'point (row {intrinsics[3]:.1f}): the scan plane must tilt down')
    root = Path(root)
    run_dir = root / run
    if run_dir.exists():
        raise FileExistsError(f'{run_dir} exists already, not overwriting')
    models, extrinsics = root / 'models', root / 'extrinsics'
    g_lines = '\n'.join(' '.join(f'{value:.6f}' for value in line) for line in G_CAMERA_IMAGE)
    write_shared(models / f'{CAMERA_MODEL}.txt',
                 f'{numbers(intrinsics)}\n{g_lines}\n'.encode())
    columns, rows = np.meshgrid(np.arange(width, dtype=np.float64),
                                np.arange(height, dtype=np.float64))
    write_shared(models / f'{CAMERA_MODEL}_distortion_lut.bin',
                 np.concatenate([columns.ravel(), rows.ravel()]).tobytes())
    t_optical_laser = laser_mount(intrinsics, row)
    for sensor, transform in (('stereo', np.zeros(6)),
                              (LASER, xyzrpy(G_CAMERA_IMAGE @ t_optical_laser)),
                              ('ins', INS_EXTRINSICS)):
        write_shared(extrinsics / f'{sensor}.txt', f'{numbers(transform)}\n'.encode())

    times = start_us + np.round(sequence.stamps.detach().double().cpu().numpy() * 1e6).astype(
        np.int64)
    folders = {name: run_dir / name for name in ('stereo/centre', 'vo', 'gps', LASER)}
    for folder in folders.values():
        folder.mkdir(parents=True)
    poses = vehicle_poses(sequence.poses)
    listing = ''.join(f'{time} 1\n' for time in times)
    (run_dir / 'stereo.timestamps').write_text(listing)
    (run_dir / f'{LASER}.timestamps').write_text(listing)
    if len(sequence) > 1:
        (folders['vo'] / 'vo.csv').write_text(vo_rows(times, poses))
    (folders['gps'] / 'ins.csv').write_text(ins_rows(times, poses))
    images = images_uint8(sequence.images)
    depths = sequence.depths[:, 0].detach().double().cpu().numpy()
    t_laser_optical = invert_pose(torch.from_numpy(t_optical_laser[None]))[0].numpy()
    pattern = BAYER_PATTERNS['stereo']
    for index, time in enumerate(times):
        write_png(folders['stereo/centre'] / f'{time}.png', mosaic(images[index], pattern))
        grey = images[index].mean(axis=2) / 255.0
        scan = row_scan(depths[index], grey, intrinsics, row, t_laser_optical, max_range)
        scan.astype(np.float64).tofile(folders[LASER] / f'{time}.bin')
    return RobotCarRun(folders['stereo/centre'], run_dir, models, extrinsics, times, row)
