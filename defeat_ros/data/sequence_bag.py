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
Jazzy) and the bag uses rosbag2 metadata version 8, which Humble and Jazzy both read. The bag
is written atomically (:func:`~defeat_ros.bags.writer.create_bag`): it appears at its path only
once complete.
"""

from defeat_ros.bags.writer import create_bag
from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.geometry import invert_pose, matrix_to_axis_angle, optical_to_body
from defeat_ros.messages.builders import camera_info_msg, compressed_image_msg, depth_msg
from defeat_ros.messages.builders import image_msg, odometry_msg
from defeat_ros.messages.typestore import CAMERA_INFO, COMPRESSED_IMAGE, header, IMAGE, ODOMETRY
from defeat_ros.messages.typestore import stamp_ns, TYPESTORE
import torch


IMAGE_TRANSPORTS = ('raw', 'compressed', 'both')
"""Which image topics to write: ``image_raw``, ``image_raw/compressed`` or both."""


ODOM_FRAME = 'odom'
BASE_FRAME = 'base_link'
ODOMETRY_TOPIC = '/ground_truth/odometry'


def body_trajectory(poses):
    """
    Convert optical-frame poses to REP-105 odometry poses.

    :param poses: F x 4 x 4 ``T_world_camera`` (optical camera frames).
    :return: F x 4 x 4 float64 ``T_odom_base``: body frames (x forward, y left, z up) at the
        camera, relative to the body frame of the first camera.
    """
    poses = poses.detach().to(torch.float64).cpu()
    return torch.from_numpy(optical_to_body(invert_pose(poses[:1]) @ poses))


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
    if image_transport not in IMAGE_TRANSPORTS:
        raise ValueError(f'image_transport must be one of {IMAGE_TRANSPORTS}, '
                         f'got {image_transport!r}')
    if not 0 <= jpeg_quality <= 100:
        raise ValueError(f'jpeg_quality must be in 0..100, got {jpeg_quality!r}')
    if len(sequence) == 0:
        raise ValueError('the sequence has no frames')
    if not bool((sequence.stamps[1:] > sequence.stamps[:-1]).all()):
        raise ValueError('sequence.stamps must increase strictly')

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

    with create_bag(path, storage) as writer:
        connections = {key: writer.add_connection(topic, msgtype, typestore=TYPESTORE)
                       for key, (topic, msgtype) in topics.items()}
        for index, nanoseconds in enumerate(stamp_ns(start_time, sequence.stamps)):
            for key, connection in connections.items():
                data = TYPESTORE.serialize_cdr(frame_message(key, index, nanoseconds),
                                               connection.msgtype)
                writer.write(connection, nanoseconds, data)
    return writer.path
