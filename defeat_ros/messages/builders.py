"""
Build outgoing messages (rosbags types) from arrays.

Images, depth, camera info, odometry, features, point clouds and transforms.

:func:`defeat_ros.ros.message_bridge.to_rclpy` turns them into rclpy messages; bag writers
serialise them with :data:`~defeat_ros.messages.typestore.TYPESTORE`. Nothing here imports rclpy.

| message | function |
| --- | --- |
| Image rgb8, 32FC1 depth (REP-118) | :func:`image_msg`, :func:`depth_msg` |
| CompressedImage JPEG | :func:`compressed_image_msg` |
| CameraInfo, Odometry | :func:`camera_info_msg`, :func:`odometry_msg` |
| Image 32FC<n> features | :func:`features_msg` |
| PointCloud2 x y z rgb | :func:`point_cloud_msg` |
| TransformStamped | :func:`transform_msg` |
"""

from defeat_ros.geometry import backproject, matrix_to_quaternion, pixel_intrinsics_opencv
from defeat_ros.messages.image_encoding import encode_jpeg
from defeat_ros.messages.typestore import CAMERA_INFO, COMPRESSED_IMAGE, IMAGE, msg, ODOMETRY
import numpy as np


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


def odometry_msg(t_odom_base, linear, angular, hdr, child_frame_id='base_link',
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


POINT_FIELD_FLOAT32 = 7
"""sensor_msgs/PointField.FLOAT32."""


POINT_DTYPE = np.dtype([('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('rgb', '<f4')])
"""Layout of one point of :func:`point_cloud_msg`: 16 bytes, little-endian."""


def features_msg(features, hdr):
    """
    Return a sensor_msgs/Image ``32FC<n>`` of dense features.

    :param features: n x H x W float array; each pixel is L2-normalised again here, because
        resizing the network's features to the output size shortens the vectors slightly.
    :param hdr: header (stamp and frame_id of the input image).
    """
    features = np.asarray(features, dtype=np.float32)
    channels, height, width = features.shape
    norm = np.linalg.norm(features, axis=0, keepdims=True)
    unit = features / np.maximum(norm, np.float32(1e-12))
    data = np.ascontiguousarray(unit.transpose(1, 2, 0), dtype='<f4').view(np.uint8)
    return msg('sensor_msgs/msg/Image', header=hdr, height=height, width=width,
               encoding=f'32FC{channels}', is_bigendian=0, step=4 * channels * width,
               data=data.reshape(-1))


def pack_rgb(rgb):
    """Pack H x W x 3 uint8 colours into float32 the way PCL and RViz read the ``rgb`` field."""
    rgb = np.asarray(rgb, dtype=np.uint32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return packed.astype('<u4').view('<f4')


def point_cloud_msg(depth, k_pix, rgb, stride, hdr):
    """
    Return an organised sensor_msgs/PointCloud2 with fields x, y, z, rgb (float32 each).

    Pixel (row i * stride, column j * stride) becomes point (i, j), in the optical frame of
    ``hdr.frame_id``; pixels without a finite positive depth give NaN points (``is_dense`` is
    then false).

    :param depth: H x W metres.
    :param k_pix: 3 x 3 pixel intrinsics of the H x W depth, corner convention (as
        ``Perception.intrinsics`` returns them).
    :param rgb: H x W x 3 uint8 colours of the same pixels.
    :param stride: keep every stride-th pixel in both directions (>= 1).
    :param hdr: header.
    """
    if stride < 1:
        raise ValueError(f'stride must be >= 1, got {stride}')
    depth = np.asarray(depth, dtype=np.float32)
    if rgb.shape[:2] != depth.shape:
        raise ValueError(f'colours {rgb.shape[:2]} and depth {depth.shape} differ in size')
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(np.nan))
    points = backproject(depth[None, None], np.asarray(k_pix, dtype=np.float32)[None])[0]
    points = points[:, ::stride, ::stride].transpose(1, 2, 0)
    height, width = points.shape[:2]
    cloud = np.empty((height, width), dtype=POINT_DTYPE)
    cloud['x'], cloud['y'], cloud['z'] = points[..., 0], points[..., 1], points[..., 2]
    cloud['rgb'] = pack_rgb(rgb[::stride, ::stride])
    fields = [msg('sensor_msgs/msg/PointField', name=name, offset=4 * index,
                  datatype=POINT_FIELD_FLOAT32, count=1)
              for index, name in enumerate(POINT_DTYPE.names)]
    return msg('sensor_msgs/msg/PointCloud2', header=hdr, height=height, width=width,
               fields=fields, is_bigendian=False, point_step=POINT_DTYPE.itemsize,
               row_step=POINT_DTYPE.itemsize * width, data=cloud.view(np.uint8).reshape(-1),
               is_dense=bool(np.isfinite(points).all()))


def transform_msg(t_parent_child, hdr, child_frame_id):
    """Return a geometry_msgs/TransformStamped (``hdr.frame_id`` -> child) of a 4 x 4 pose."""
    t_parent_child = np.asarray(t_parent_child, dtype=np.float64)
    x, y, z, w = matrix_to_quaternion(t_parent_child[:3, :3]).tolist()
    transform = msg('geometry_msgs/msg/Transform', translation=vector3(t_parent_child[:3, 3]),
                    rotation=msg('geometry_msgs/msg/Quaternion', x=x, y=y, z=z, w=w))
    return msg('geometry_msgs/msg/TransformStamped', header=hdr, child_frame_id=child_frame_id,
               transform=transform)
