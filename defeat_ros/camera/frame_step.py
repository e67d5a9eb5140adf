"""
One camera frame in, the node's output messages out.

The step shared by ``defeat_node`` (and so the demo, which runs it) and ``defeat-ros
process-bag``, so that a live node and a processed bag cannot drift apart.

:class:`FrameStep` holds one camera's state: its Perception, its
:class:`~defeat_ros.camera.odometry.OdometryChain`, its camera_info
(:class:`~defeat_ros.camera.camera_info_cache.CameraInfoCache`, the one camera_info policy)
and its :class:`~defeat_ros.camera.options.OutputOptions`. Called with an Image or
CompressedImage message and the outputs wanted, it decodes the image
(:func:`~defeat_ros.messages.decode.decode_image`) and runs :func:`process_frame`.

:func:`process_frame` restarts odometry when it must (first frame, time going backwards, a
repeated stamp, a new image size, a gap), runs :class:`~defeat_ros.runtime.perception.Perception`,
chains the relative pose and builds the wanted outputs of :data:`OUTPUT_TOPICS` as rosbags
messages (:mod:`defeat_ros.messages.builders`). The node publishes them through
:func:`~defeat_ros.ros.message_bridge.to_rclpy`; the bag processor serialises them into a bag.
Nothing here imports rclpy.

The topics follow image_transport's layout: an image ``<name>/image`` (or ``<name>/visual``)
has its CameraInfo at ``<name>/camera_info``, at its size, which is where image_transport,
RViz's camera display and depth_image_proc look for it. Depth (with depth/visual and points)
comes at ``output_resolution``, the features (with features/visual) at ``features_resolution``
(by default the network's: a 32FC<n> image at the camera's size is n times the depth's bytes).
"""

from dataclasses import dataclass
import math

import cv2
from defeat_ros.camera.camera_info_cache import CameraInfoCache
from defeat_ros.camera.odometry import OdometryChain, OdometryEstimate
from defeat_ros.camera.options import OutputOptions
from defeat_ros.messages.builders import camera_info_msg, depth_msg, features_msg, image_msg
from defeat_ros.messages.builders import odometry_msg, point_cloud_msg
from defeat_ros.messages.decode import decode_image
from defeat_ros.messages.image_encoding import to_rgb
from defeat_ros.messages.typestore import header, ODOMETRY, stamp_to_ns
from defeat_ros.runtime.perception import PerceptionResult
from defeat_ros.visualisation import colourise_depth, colourise_features

OUTPUT_TOPICS = {
    'depth': ('sensor_msgs/msg/Image', 'depth/image'),
    'depth_info': ('sensor_msgs/msg/CameraInfo', 'depth/camera_info'),
    'features': ('sensor_msgs/msg/Image', 'features/image'),
    'features_info': ('sensor_msgs/msg/CameraInfo', 'features/camera_info'),
    'features_visual': ('sensor_msgs/msg/Image', 'features/visual'),
    'depth_visual': ('sensor_msgs/msg/Image', 'depth/visual'),
    'odometry': (ODOMETRY, 'odometry'),
    'points': ('sensor_msgs/msg/PointCloud2', 'points'),
}
"""
Every output: key -> (message type, topic relative to the camera namespace).

``depth_info`` is the CameraInfo of ``depth`` and ``depth_visual``, ``features_info`` that of
``features`` and ``features_visual``.
"""


@dataclass
class FrameOutputs:
    """What one frame produced."""

    messages: dict
    """Output key -> rosbags message, in the order of :data:`OUTPUT_TOPICS`."""
    estimate: OdometryEstimate
    """The odometry chain's state after the frame (``reset_reason`` says why it restarted)."""
    result: PerceptionResult
    """Depth and relative pose at the output size, features at the features' size."""
    k_norm: object
    """3 x 3 float32 tensor: the normalised intrinsics the frame was processed with."""


class FrameStep:
    """One camera's per-frame step: image message in, :class:`FrameOutputs` out."""

    def __init__(self, perception, options=None, camera_info=None, speeds=None):
        """
        Start the camera's odometry chain; no frame is processed yet.

        :param perception: the camera's :class:`~defeat_ros.runtime.perception.Perception`.
        :param options: :class:`~defeat_ros.camera.options.OutputOptions` (or a config that
            extends it); None: the defaults. It may be replaced between frames (the node
            re-reads its parameters on every frame).
        :param camera_info: the camera's CameraInfoCache (warnings go through its ``warn``);
            None: one without fallback intrinsics, which needs a CameraInfo before a frame.
        :param speeds: the vehicle's :class:`~defeat_ros.camera.speed_history.SpeedHistory`
            (its owner keeps adding to it); None: no speed is known.
        """
        self.perception = perception
        self.options = options if options is not None else OutputOptions()
        self.camera_info = camera_info if camera_info is not None else CameraInfoCache()
        self.speeds = speeds
        self.chain = OdometryChain(self.options.max_gap_s)

    def __call__(self, message, outputs=frozenset(OUTPUT_TOPICS), input_gap_s=None):
        """
        Process one sensor_msgs Image or CompressedImage (rclpy or rosbags message).

        :param outputs: keys of :data:`OUTPUT_TOPICS` to build; the others are not computed.
        :param input_gap_s: the longest interval (s) between camera frames since the previous
            processed one (the node skips frames when it is slower than the camera); None:
            every frame is processed.
        :return: FrameOutputs, its messages in the order of :data:`OUTPUT_TOPICS`.
        :raises UnsupportedEncoding, ValueError: for a frame that cannot be decoded or read,
            or without intrinsics (no usable camera_info and no fallback).
        """
        image, encoding = decode_image(message)
        options = self.options
        self.chain.max_gap_s = options.max_gap_s
        self.chain.t_base_optical = options.t_base_optical()
        stamp = stamp_to_ns(message.header.stamp)
        return process_frame(
            self.perception, self.chain, image, encoding, stamp, message.header.frame_id,
            self.camera_info.intrinsics(image.shape[:2]),
            {key: key in outputs for key in OUTPUT_TOPICS}, options.output_resolution,
            options.point_stride, options.odom_frame, options.base_frame,
            options.features_resolution, input_gap_s, self.travelled(stamp))

    def travelled(self, stamp):
        """
        Metres travelled from the chain's previous frame to ``stamp`` (ns); NaN unknown.

        Only ``scale_mode`` speed uses it: in the other modes it is not computed (NaN).
        """
        previous = self.chain.stamp_ns
        if self.speeds is None or self.perception.scale_mode != 'speed' or previous is None \
                or stamp <= previous:
            return math.nan
        return self.speeds.travelled(previous, stamp)


def process_frame(perception, chain, image, encoding, stamp, frame_id, k_norm, wanted,
                  output_resolution='input', point_stride=4, odom_frame='odom',
                  base_frame='base_link', features_resolution='model', input_gap_s=None,
                  travelled=None):
    """
    Run Perception on one frame, chain odometry and build the wanted output messages.

    :param perception: the camera's :class:`~defeat_ros.runtime.perception.Perception`.
    :param chain: the camera's :class:`~defeat_ros.camera.odometry.OdometryChain`.
    :param image: H x W (x C) uint8 array in ``encoding``.
    :param stamp: the image's header stamp, integer nanoseconds; every output carries it.
    :param frame_id: the image's header frame_id (an optical frame).
    :param k_norm: 3 x 3 normalised intrinsics of the image (for depth/camera_info,
        features/camera_info, points and Perception's 'camera_height' scale).
    :param wanted: output key -> bool; a missing key is False, except ``odometry`` (True).
    :param output_resolution: size of depth, depth/camera_info, depth/visual and points:
        'input' (the image's size) or 'model' (the network's).
    :param point_stride: keep every point_stride-th pixel in both directions for points.
    :param odom_frame: header frame of the odometry.
    :param base_frame: child frame of the odometry.
    :param features_resolution: size of features, features/camera_info and features/visual:
        'model' (the network's; the features are never resized) or 'input' (the image's).
    :param input_gap_s: the longest interval (s) between camera frames since the previous
        processed one, for the odometry's gap rule; None: the processed frames' interval.
    :param travelled: metres the vehicle travelled since the chain's previous frame (Perception's
        ``travelled``, for ``scale_mode`` speed); None or NaN: unknown.
    :return: FrameOutputs.
    :raises UnsupportedEncoding, ValueError: for an image Perception cannot read.
    """
    size = image.shape[:2]
    if chain.reset_reason(stamp, size, input_gap_s):
        perception.reset()
    features_size = size if features_resolution == 'input' else perception.size
    result = perception(
        image, encoding, features=bool(wanted.get('features') or wanted.get('features_visual')),
        pose=True, output_size=size if output_resolution == 'input' else None, k_norm=k_norm,
        features_size=features_size, travelled=travelled)
    estimate = chain.update(stamp, size, result.transform, input_gap_s)
    hdr = header(stamp, frame_id)
    depth = result.depth
    messages = {}
    if wanted.get('depth'):
        messages['depth'] = depth_msg(depth, hdr)
    if wanted.get('depth_info'):
        messages['depth_info'] = camera_info_msg(k_norm, *depth.shape, hdr)
    if wanted.get('features'):
        messages['features'] = features_msg(result.features, hdr)
    if wanted.get('features_info'):
        messages['features_info'] = camera_info_msg(k_norm, *features_size, hdr)
    if wanted.get('features_visual'):
        messages['features_visual'] = image_msg(colourise_features(result.features), hdr)
    if wanted.get('depth_visual'):
        messages['depth_visual'] = image_msg(colourise_depth(depth), hdr)
    if wanted.get('odometry', True):
        messages['odometry'] = odometry_msg(
            estimate.t_odom_base, estimate.linear, estimate.angular, header(stamp, odom_frame),
            base_frame, estimate.pose_covariance, estimate.twist_covariance)
    if wanted.get('points'):
        rgb = to_rgb(image, encoding)
        if rgb.shape[:2] != depth.shape:
            rgb = cv2.resize(rgb, depth.shape[::-1], interpolation=cv2.INTER_AREA)
        k_pix = perception.intrinsics(k_norm, depth.shape)
        messages['points'] = point_cloud_msg(depth, k_pix, rgb, point_stride, hdr)
    return FrameOutputs({key: messages[key] for key in OUTPUT_TOPICS if key in messages},
                        estimate, result, k_norm)
