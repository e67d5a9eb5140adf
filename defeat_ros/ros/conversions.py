"""
Conversions between ROS messages and the arrays of Perception.

Incoming messages (``sensor_msgs`` Image, CompressedImage, CameraInfo) are read by duck typing,
so rclpy messages and rosbags messages both work. Outgoing messages are built as rosbags
messages with the builders of :mod:`defeat_ros.data.bag_writer` (the bytes a bag records and the
bytes the node publishes come from the same code); :func:`defeat_ros.ros.message_bridge.to_rclpy`
turns them into rclpy messages. Nothing here imports rclpy.

| message | direction | function |
| --- | --- | --- |
| Image (rgb8, bgr8, rgba8, bgra8, mono8, bayer_*8, or 16-bit) | in | :func:`image_to_array` |
| CompressedImage (JPEG, PNG) | in | :func:`compressed_to_rgb` |
| CameraInfo | in | :func:`camera_info_intrinsics` |
| Image 32FC1 depth, rgb8, CameraInfo, Odometry | out | bag_writer's ``depth_msg``, ... |
| Image 32FC<n> features | out | :func:`features_msg` |
| PointCloud2 x y z rgb | out | :func:`point_cloud_msg` |
| TransformStamped | out | :func:`transform_msg` |
"""

import cv2
from defeat_ros.data.bag_writer import matrix_to_quaternion, msg, vector3
from defeat_ros.geometry import backproject, normalise_intrinsics
from defeat_ros.runtime.image_encoding import unpack_pixels, UnsupportedEncoding
import numpy as np
import torch

POINT_FIELD_FLOAT32 = 7
"""sensor_msgs/PointField.FLOAT32."""

POINT_DTYPE = np.dtype([('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('rgb', '<f4')])
"""Layout of one point of :func:`point_cloud_msg`: 16 bytes, little-endian."""


def stamp_to_ns(stamp):
    """Return the integer nanoseconds of a builtin_interfaces/Time."""
    return int(stamp.sec) * 10 ** 9 + int(stamp.nanosec)


def image_to_array(message):
    """
    Read the pixels of a sensor_msgs/Image.

    Row padding (``step`` larger than ``width`` times the pixel size) is dropped; 16-bit
    versions of the encodings (``rgb16``, ``mono16``, ``bayer_rggb16``...; either byte order) are
    reduced to 8 bits. The array is a copy: it does not keep the message alive.

    :param message: Image with an encoding Perception reads, or its 16-bit version.
    :return: (H x W x C or H x W uint8 array, its 8-bit encoding).
    :raises UnsupportedEncoding: for any other encoding.
    :raises ValueError: when size, step and data length disagree.
    """
    return unpack_pixels(message.data, message.height, message.width, message.step,
                         message.encoding, bool(message.is_bigendian))


def compressed_to_rgb(message):
    """
    Decode a sensor_msgs/CompressedImage (JPEG or PNG, colour or grey) to RGB.

    :return: (H x W x 3 uint8 array, 'rgb8').
    :raises UnsupportedEncoding: for compressed depth (``compressedDepth`` formats).
    :raises ValueError: when the data cannot be decoded.
    """
    if 'compresseddepth' in message.format.lower().replace(' ', ''):
        raise UnsupportedEncoding(f'unsupported CompressedImage format {message.format!r}: '
                                  f'compressed depth is not a camera image')
    data = np.frombuffer(message.data, dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise ValueError(f'cannot decode the CompressedImage (format {message.format!r}, '
                         f'{data.size} bytes) as JPEG or PNG')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), 'rgb8'


def camera_info_intrinsics(message, height, width):
    """
    Return normalised intrinsics (3 x 3 tensor, corner convention) from a sensor_msgs/CameraInfo.

    The projection matrix P is used (the intrinsics of the rectified image, which the node
    assumes it receives); K when P is unset. Pixel intrinsics are normalised by the info's own
    size, so an image resized after calibration keeps the right intrinsics; an info without a
    size is taken to describe an image of ``height`` x ``width``.

    :raises ValueError: when neither P nor K holds positive focal lengths.
    """
    p = np.asarray(message.p, dtype=np.float64).reshape(-1)
    k = np.asarray(message.k, dtype=np.float64).reshape(-1)
    if p.size == 12 and p[0] > 0 and p[5] > 0:
        fx, fy, cx, cy = p[0], p[5], p[2], p[6]
    elif k.size == 9 and k[0] > 0 and k[4] > 0:
        fx, fy, cx, cy = k[0], k[4], k[2], k[5]
    else:
        raise ValueError('camera_info holds no intrinsics (P and K have no positive focal '
                         'lengths): is the camera calibrated?')
    info_width = int(message.width) or width
    info_height = int(message.height) or height
    return normalise_intrinsics(float(fx), float(fy), float(cx), float(cy), info_width,
                                info_height)


def parameter_intrinsics(fx, fy, cx, cy):
    """Return normalised intrinsics (3 x 3 tensor) from normalised parameter values."""
    return torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=torch.float32)


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
    points = backproject(torch.from_numpy(depth)[None, None],
                         torch.as_tensor(k_pix, dtype=torch.float32)[None])[0]
    points = points[:, ::stride, ::stride].permute(1, 2, 0).numpy()
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
