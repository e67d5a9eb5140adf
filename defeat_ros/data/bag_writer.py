"""
Write a FrameSequence as a rosbag2 recording (MCAP or SQLite 3) with ground-truth topics.

Topics, with ``<ns>`` the ``namespace`` argument (default ``/camera``):

| topic | type | when |
| --- | --- | --- |
| ``<ns>/image_raw`` | sensor_msgs/msg/Image, rgb8 | ``image_transport`` 'raw' or 'both' |
| ``<ns>/image_raw/compressed`` | sensor_msgs/msg/CompressedImage, 'jpeg' | 'compressed', 'both' |
| ``<ns>/camera_info`` | sensor_msgs/msg/CameraInfo, plumb_bob, no distortion | ``camera_info`` |
| ``/ground_truth/odometry`` | nav_msgs/msg/Odometry, ``odom`` -> ``base_link`` | ``odometry`` |
| ``<ns>/depth/ground_truth`` | sensor_msgs/msg/Image 32FC1 metres, NaN = no depth | ``depth`` |

Every message of frame i carries the header stamp ``start_time + sequence.stamps[i]`` and is
recorded at that time. Image, camera info and depth use ``frame_id`` (an optical frame).
Odometry follows REP-105/REP-103: ``base_link`` is a body frame (x forward, y left, z up) at
the camera, ``odom`` is that body frame at the first image, and the twist is the finite
difference of consecutive poses expressed in ``base_link`` (backward; forward for frame 0).
Messages are typed with rosbags' ROS 2 Humble typestore (these definitions are identical in
Jazzy) and the bag uses rosbag2 metadata version 8, which Humble and Jazzy both read.
"""

from pathlib import Path

from defeat_ros.data.kitti_writer import encode_jpeg, images_uint8, R_OPTICAL_BODY
from defeat_ros.geometry import invert_pose, matrix_to_axis_angle, pixel_intrinsics_opencv
import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import get_typestore, Stores
import torch

STORAGES = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
"""rosbag2 storage plugins by their ``ros2 bag`` names."""

IMAGE_TRANSPORTS = ('raw', 'compressed', 'both')
"""Which image topics to write: ``image_raw``, ``image_raw/compressed`` or both."""

BAG_VERSION = 8
"""rosbag2 metadata version (rosbags writes 8 or 9; Humble cannot parse version 9's QoS)."""

ODOM_FRAME = 'odom'
BASE_FRAME = 'base_link'
ODOMETRY_TOPIC = '/ground_truth/odometry'

TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)
"""Message definitions of the recorded types (identical in Humble and Jazzy)."""

IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED_IMAGE = 'sensor_msgs/msg/CompressedImage'
CAMERA_INFO = 'sensor_msgs/msg/CameraInfo'
ODOMETRY = 'nav_msgs/msg/Odometry'


def msg(msgtype, **fields):
    """Build a message of ``msgtype`` from the typestore."""
    return TYPESTORE.types[msgtype](**fields)


def stamp_ns(start_time, stamps):
    """Integer nanoseconds of ``start_time + stamps`` (seconds), exact for large start times."""
    start_sec = int(np.floor(start_time))
    start_ns = start_sec * 10 ** 9 + round((start_time - start_sec) * 1e9)
    return [start_ns + round(stamp * 1e9) for stamp in stamps.tolist()]


def header(nanoseconds, frame_id):
    """Return a std_msgs/Header at ``nanoseconds`` since the epoch."""
    sec, nanosec = divmod(nanoseconds, 10 ** 9)
    return msg('std_msgs/msg/Header', frame_id=frame_id,
               stamp=msg('builtin_interfaces/msg/Time', sec=sec, nanosec=nanosec))


def image_msg(rgb, hdr):
    """Return a sensor_msgs/Image, rgb8, from a uint8 H x W x 3 array."""
    height, width, _ = rgb.shape
    return msg(IMAGE, header=hdr, height=height, width=width, encoding='rgb8', is_bigendian=0,
               step=3 * width, data=np.ascontiguousarray(rgb).reshape(-1))


def compressed_image_msg(rgb, hdr, quality):
    """Return a sensor_msgs/CompressedImage, JPEG (4:4:4) at ``quality``, from uint8 H x W x 3."""
    return msg(COMPRESSED_IMAGE, header=hdr, format='jpeg', data=encode_jpeg(rgb, quality))


def camera_info_msg(k_norm, height, width, hdr):
    """Return a sensor_msgs/CameraInfo: undistorted pinhole, OpenCV pixel intrinsics."""
    fx, fy, cx, cy = pixel_intrinsics_opencv(k_norm, height, width)
    roi = msg('sensor_msgs/msg/RegionOfInterest', x_offset=0, y_offset=0, height=0, width=0,
              do_rectify=False)
    return msg(CAMERA_INFO, header=hdr, height=height, width=width, distortion_model='plumb_bob',
               d=np.zeros(5), k=np.array([fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]),
               r=np.eye(3).reshape(-1),
               p=np.array([fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]),
               binning_x=0, binning_y=0, roi=roi)


def depth_msg(depth, hdr):
    """Return a sensor_msgs/Image, 32FC1 metres (REP-118), NaN where depth is not finite > 0."""
    depth = np.asarray(depth, dtype=np.float32)
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(np.nan))
    height, width = depth.shape
    data = np.ascontiguousarray(depth, dtype='<f4').view(np.uint8).reshape(-1)
    return msg(IMAGE, header=hdr, height=height, width=width, encoding='32FC1', is_bigendian=0,
               step=4 * width, data=data)


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


def body_trajectory(poses):
    """
    Convert optical-frame poses to REP-105 odometry poses.

    :param poses: F x 4 x 4 ``T_world_camera`` (optical camera frames).
    :return: F x 4 x 4 float64 ``T_odom_base``: body frames (x forward, y left, z up) at the
        camera, relative to the body frame of the first camera.
    """
    poses = poses.detach().to(torch.float64).cpu()
    optical_body = torch.eye(4, dtype=torch.float64)
    optical_body[:3, :3] = torch.from_numpy(R_OPTICAL_BODY)
    relative = invert_pose(poses[:1]) @ poses
    return optical_body.T @ relative @ optical_body


def body_twists(trajectory, seconds):
    """
    Differentiate a body trajectory: velocities by finite differences, in each body frame.

    :param trajectory: F x 4 x 4 float64 ``T_odom_base``.
    :param seconds: F strictly increasing times.
    :return: (linear F x 3 m/s, angular F x 3 rad/s); frame 0 uses the step to frame 1, the
        others the step from the previous frame; zeros for a single frame.
    """
    count = trajectory.shape[0]
    if count < 2:
        zeros = torch.zeros(count, 3, dtype=torch.float64)
        return zeros, zeros.clone()
    seconds = seconds.detach().to(torch.float64).cpu()
    before = torch.cat([torch.tensor([0]), torch.arange(count - 1)])
    after = torch.cat([torch.tensor([1]), torch.arange(1, count)])
    dt = (seconds[after] - seconds[before]).view(count, 1)
    step = invert_pose(trajectory[before]) @ trajectory[after]
    displacement = trajectory[after, :3, 3] - trajectory[before, :3, 3]
    linear = (trajectory[:, :3, :3].transpose(1, 2) @ displacement.unsqueeze(-1)).squeeze(-1)
    # The rotation axis of a step is the same in the frames before and after it.
    return linear / dt, matrix_to_axis_angle(step[:, :3, :3]) / dt


def odometry_msg(t_odom_base, linear, angular, hdr, child_frame_id=BASE_FRAME,
                 pose_covariance=None, twist_covariance=None):
    """
    Return a nav_msgs/Odometry from a pose and a twist.

    :param t_odom_base: 4 x 4 pose ``T_odom_base`` (tensor or array).
    :param linear: linear velocity (3 numbers, m/s) in the child frame.
    :param angular: angular velocity (3 numbers, rad/s) in the child frame.
    :param hdr: header; its frame_id is the odometry frame.
    :param child_frame_id: the body frame.
    :param pose_covariance: 6 x 6 (x, y, z, rotations about x, y, z), None: zeros (ground truth).
    :param twist_covariance: 6 x 6 likewise, None: zeros.
    :return: the message.
    """
    t_odom_base = np.asarray(t_odom_base, dtype=np.float64)
    position = t_odom_base[:3, 3].tolist()
    x, y, z, w = matrix_to_quaternion(t_odom_base[:3, :3]).tolist()
    pose = msg('geometry_msgs/msg/Pose',
               position=msg('geometry_msgs/msg/Point', x=position[0], y=position[1],
                            z=position[2]),
               orientation=msg('geometry_msgs/msg/Quaternion', x=x, y=y, z=z, w=w))
    twist = msg('geometry_msgs/msg/Twist', linear=vector3(linear), angular=vector3(angular))
    return msg(ODOMETRY, header=hdr, child_frame_id=child_frame_id,
               pose=msg('geometry_msgs/msg/PoseWithCovariance', pose=pose,
                        covariance=covariance36(pose_covariance)),
               twist=msg('geometry_msgs/msg/TwistWithCovariance', twist=twist,
                         covariance=covariance36(twist_covariance)))


def covariance36(covariance):
    """Return a 6 x 6 covariance (None: zeros) as the 36 row-major float64 of a message."""
    if covariance is None:
        return np.zeros(36)
    covariance = np.asarray(covariance, dtype=np.float64)
    if covariance.shape != (6, 6):
        raise ValueError(f'a covariance must be 6 x 6, got {covariance.shape}')
    return covariance.reshape(36).copy()


def vector3(values):
    """Return a geometry_msgs/Vector3 from three numbers."""
    x, y, z = [float(v) for v in values]
    return msg('geometry_msgs/msg/Vector3', x=x, y=y, z=z)


def write_bag(sequence, path, storage='mcap', image_transport='raw', camera_info=True,
              odometry=True, depth=False, namespace='/camera', frame_id='camera_optical',
              start_time=1_700_000_000.0, jpeg_quality=90):
    """
    Record ``sequence`` into a new rosbag2 directory ``path`` (see the module docstring).

    :param sequence: the :class:`~defeat_ros.data.frame_sequence.FrameSequence` to write; its
        stamps must increase strictly.
    :param path: the bag directory to create.
    :param storage: ``'mcap'`` or ``'sqlite3'``.
    :param image_transport: ``'raw'``, ``'compressed'`` or ``'both'``.
    :param camera_info: write ``<ns>/camera_info``.
    :param odometry: write ``/ground_truth/odometry``.
    :param depth: write ``<ns>/depth/ground_truth``.
    :param namespace: prefix of the camera topics (``''`` for none).
    :param frame_id: ``header.frame_id`` of image, camera info and depth messages.
    :param start_time: seconds since the epoch of ``sequence.stamps == 0``.
    :param jpeg_quality: JPEG quality 0..100 of the compressed images.
    :return: the bag directory.
    :raises ValueError: for unknown choices, bad quality or non-increasing stamps.
    :raises FileExistsError: when ``path`` exists.
    """
    if storage not in STORAGES:
        raise ValueError(f'storage must be one of {tuple(STORAGES)}, got {storage!r}')
    if image_transport not in IMAGE_TRANSPORTS:
        raise ValueError(f'image_transport must be one of {IMAGE_TRANSPORTS}, '
                         f'got {image_transport!r}')
    if not 0 <= jpeg_quality <= 100:
        raise ValueError(f'jpeg_quality must be in 0..100, got {jpeg_quality!r}')
    if len(sequence) == 0:
        raise ValueError('the sequence has no frames')
    if not bool((sequence.stamps[1:] > sequence.stamps[:-1]).all()):
        raise ValueError('sequence.stamps must increase strictly')
    path = Path(path)
    if path.exists():
        raise FileExistsError(f'{path} exists already, not overwriting')

    prefix = '/' + namespace.strip('/') if namespace.strip('/') else ''
    topics = {}
    if image_transport in ('raw', 'both'):
        topics['image'] = (f'{prefix}/image_raw', IMAGE)
    if image_transport in ('compressed', 'both'):
        topics['compressed'] = (f'{prefix}/image_raw/compressed', COMPRESSED_IMAGE)
    if camera_info:
        topics['camera_info'] = (f'{prefix}/camera_info', CAMERA_INFO)
    if odometry:
        topics['odometry'] = (ODOMETRY_TOPIC, ODOMETRY)
    if depth:
        topics['depth'] = (f'{prefix}/depth/ground_truth', IMAGE)

    images = images_uint8(sequence.images)
    depths = sequence.depths[:, 0].detach().cpu().numpy()
    trajectory = body_trajectory(sequence.poses)
    linear, angular = body_twists(trajectory, sequence.stamps)

    def frame_message(key, index, nanoseconds):
        """Build the message of topic ``key`` for frame ``index``."""
        camera_header = header(nanoseconds, frame_id)
        if key == 'image':
            return image_msg(images[index], camera_header)
        if key == 'compressed':
            return compressed_image_msg(images[index], camera_header, jpeg_quality)
        if key == 'camera_info':
            return camera_info_msg(sequence.k_norm, sequence.height, sequence.width,
                                   camera_header)
        if key == 'odometry':
            return odometry_msg(trajectory[index], linear[index], angular[index],
                                header(nanoseconds, ODOM_FRAME))
        return depth_msg(depths[index], camera_header)

    with Writer(path, version=BAG_VERSION, storage_plugin=STORAGES[storage]) as writer:
        connections = {key: writer.add_connection(topic, msgtype, typestore=TYPESTORE)
                       for key, (topic, msgtype) in topics.items()}
        for index, nanoseconds in enumerate(stamp_ns(start_time, sequence.stamps)):
            for key, connection in connections.items():
                data = TYPESTORE.serialize_cdr(frame_message(key, index, nanoseconds),
                                               connection.msgtype)
                writer.write(connection, nanoseconds, data)
    return path
