"""
Write a FrameSequence as a rosbag2 recording (MCAP or SQLite 3) with ground truth and wheel speeds.

Topics, with ``<ns>`` the ``namespace`` argument (default ``/camera``):

| topic | type | when |
| --- | --- | --- |
| ``<ns>/image_raw`` | sensor_msgs/msg/Image, rgb8 | ``image_transport`` 'raw' or 'both' |
| ``<ns>/image_raw/compressed`` | sensor_msgs/msg/CompressedImage, 'jpeg' | 'compressed', 'both' |
| ``<ns>/camera_info`` | sensor_msgs/msg/CameraInfo, plumb_bob, no distortion | ``camera_info`` |
| ``/ground_truth/odometry`` | nav_msgs/msg/Odometry, ``odom`` -> ``base_link`` | ``odometry`` |
| ``<ns>/depth/ground_truth`` | sensor_msgs/msg/Image 32FC1 metres, NaN = no depth | ``depth`` |
| ``<ns>/semantic`` (:data:`LABEL_TOPIC`) | sensor_msgs/msg/Image 8UC1 label ids | ``labels`` |
| ``/vehicle/wheel_odometry`` | nav_msgs/msg/Odometry, simulated (below) | ``wheel_odometry`` |

Every message of frame i carries the header stamp ``start_time + sequence.stamps[i]`` and is
recorded at that time. Image, camera info, depth and labels use ``frame_id`` (an optical
frame). The label topic holds the sequence's ``labels``: one Cityscapes label-file id per pixel
(:mod:`defeat_ros.semantics`: road 7, car 26, moving car 34, sky 23...; 0 unlabelled), encoded
``8UC1`` rather than ``mono8`` so that nothing takes it for a grey camera (a bag's only colour
image topic is found automatically, :func:`~defeat_ros.bags.topics.find_image_topic`); the
rosbag dataset reads either encoding.
Odometry follows REP-105/REP-103: ``base_link`` is a body frame (x forward, y left, z up) at
the camera, ``odom`` is that body frame at the first image, and the twist is the finite
difference of consecutive poses expressed in ``base_link`` (backward; forward for frame 0).

The wheel odometry is what a vehicle's wheel encoders and yaw-rate sensor would report
(:mod:`defeat_ros.data.wheel_speed`; rate, errors and seed from ``wheel_config``): samples at a
rate of their own (default 50 Hz) between the frames, each stamped and recorded at its time,
covering every frame; ``twist.linear.x`` is the measured speed (with the sensor's scale error
and noise), ``twist.angular.z`` the measured yaw rate, the pose is dead-reckoned from them
(its ``odom`` is ``base_link`` at the first sample, not at the first image), and the
covariances are the sensor's noise (:data:`~defeat_ros.data.wheel_speed.UNMEASURED_VARIANCE`
for z, roll and pitch).

Messages are typed with rosbags' ROS 2 Humble typestore (these definitions are identical in
Jazzy) and the bag uses rosbag2 metadata version 8, which Humble and Jazzy both read. The bag
is written atomically (:func:`~defeat_ros.bags.writer.create_bag`): it appears at its path only
once complete.
"""

from defeat_ros.bags.writer import create_bag
from defeat_ros.data.body_motion import body_trajectory, body_twists
from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.wheel_speed import simulate_wheel_odometry
from defeat_ros.messages.builders import camera_info_msg, compressed_image_msg, depth_msg
from defeat_ros.messages.builders import image_msg, odometry_msg
from defeat_ros.messages.typestore import CAMERA_INFO, COMPRESSED_IMAGE, header, IMAGE, ODOMETRY
from defeat_ros.messages.typestore import msg, stamp_ns, TYPESTORE
import numpy as np


IMAGE_TRANSPORTS = ('raw', 'compressed', 'both')
"""Which image topics to write: ``image_raw``, ``image_raw/compressed`` or both."""


ODOM_FRAME = 'odom'
BASE_FRAME = 'base_link'
ODOMETRY_TOPIC = '/ground_truth/odometry'
WHEEL_ODOMETRY_TOPIC = '/vehicle/wheel_odometry'
LABEL_TOPIC = 'semantic'
"""Name of the label topic under the camera namespace (``/camera/semantic`` by default)."""
LABEL_ENCODING = '8UC1'
"""Encoding of the label Image messages: one uint8 label-file id per pixel."""


def label_msg(labels, hdr):
    """Return a sensor_msgs/Image, 8UC1, of uint8 H x W label-file ids."""
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    height, width = labels.shape
    return msg(IMAGE, header=hdr, height=height, width=width, encoding=LABEL_ENCODING,
               is_bigendian=0, step=width, data=labels.reshape(-1))


def write_bag(sequence, path, storage='mcap', image_transport='raw', camera_info=True,
              odometry=True, depth=False, namespace='/camera', frame_id='camera_optical',
              start_time=1_700_000_000.0, jpeg_quality=90, wheel_odometry=True,
              wheel_config=None, labels=False):
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
    :param wheel_odometry: write ``/vehicle/wheel_odometry``.
    :param wheel_config: the simulated sensor's rate, errors and seed: a
        :class:`~defeat_ros.data.wheel_speed.WheelOdometryConfig` (None: the defaults).
    :param labels: write ``<ns>/semantic`` (:data:`LABEL_TOPIC`) from ``sequence.labels``.
    :return: the bag directory.
    :raises ValueError: for unknown choices, bad quality, non-increasing stamps, or
        ``labels`` for a sequence without labels.
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
    if labels and sequence.labels is None:
        raise ValueError('labels=True but the sequence has no labels')

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
    if labels:
        topics['labels'] = (f'{prefix}/{LABEL_TOPIC}', IMAGE)

    images = images_uint8(sequence.images)
    depths = sequence.depths[:, 0].detach().cpu().numpy()
    label_maps = sequence.labels[:, 0].detach().cpu().numpy() if labels else None
    trajectory = body_trajectory(sequence.poses)
    linear, angular = body_twists(trajectory, sequence.stamps)

    stamps = stamp_ns(start_time, sequence.stamps)
    frame_keys = list(topics)
    events = [(nanoseconds, key, index) for index, nanoseconds in enumerate(stamps)
              for key in frame_keys]
    if wheel_odometry:
        topics['wheel'] = (WHEEL_ODOMETRY_TOPIC, ODOMETRY)
        wheel = simulate_wheel_odometry(sequence, wheel_config)
        events += [(nanoseconds, 'wheel', index)
                   for index, nanoseconds in enumerate(stamp_ns(start_time, wheel.stamps))]
    events.sort(key=lambda event: event[0])  # stable: a frame's messages keep their order

    def message(key, index, nanoseconds):
        """Build the message of topic ``key`` for frame (or wheel sample) ``index``."""
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
        if key == 'wheel':
            return odometry_msg(wheel.poses[index], (wheel.speeds[index], 0.0, 0.0),
                                (0.0, 0.0, wheel.yaw_rates[index]),
                                header(nanoseconds, ODOM_FRAME), BASE_FRAME,
                                wheel.pose_covariances[index], wheel.twist_covariance)
        if key == 'labels':
            return label_msg(label_maps[index], camera_header)
        return depth_msg(depths[index], camera_header)

    with create_bag(path, storage) as writer:
        connections = {key: writer.add_connection(topic, msgtype, typestore=TYPESTORE)
                       for key, (topic, msgtype) in topics.items()}
        for nanoseconds, key, index in events:
            connection = connections[key]
            data = TYPESTORE.serialize_cdr(message(key, index, nanoseconds), connection.msgtype)
            writer.write(connection, nanoseconds, data)
    return writer.path
