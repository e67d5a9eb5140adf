"""
The DeFeat-Net node (executable ``defeat_node``, node name ``defeat``).

Camera images in; depth, dense features, odometry and a coloured point cloud out, exactly as
the ROS interface of DESIGN.md specifies (relative topic names, so namespaces and remaps work):

| topic | type | |
| --- | --- | --- |
| ``image`` or ``image/compressed`` | sensor_msgs/Image or CompressedImage | subscribed |
| ``camera_info`` | sensor_msgs/CameraInfo | subscribed, latest usable one wins |
| ``depth`` | sensor_msgs/Image 32FC1 (m) | |
| ``depth/camera_info`` | sensor_msgs/CameraInfo | intrinsics at the depth's size |
| ``features`` | sensor_msgs/Image 32FC<n> | computed while subscribed |
| ``depth/visual``, ``features/visual`` | sensor_msgs/Image rgb8 | computed while subscribed |
| ``odometry`` | nav_msgs/Odometry | ``odom_frame`` -> ``base_frame`` |
| ``points`` | sensor_msgs/PointCloud2 | computed while subscribed |
| ``/diagnostics`` | diagnostic_msgs/DiagnosticArray | about once a second |

The node is thin: parameters live in :mod:`~defeat_ros.ros.parameters`; decoding, camera_info
(:mod:`~defeat_ros.camera.camera_info_cache`), Perception, odometry and the output messages are
one :class:`~defeat_ros.camera.frame_step.FrameStep` call, the step process-bag runs too. The
node keeps the rclpy work: topics, parameters, TF and diagnostics. The subscription callback only
drops the message into a one-frame :class:`~defeat_ros.ros.latest_slot.LatestSlot`; a worker
thread runs inference on the newest frame, so a slow model drops frames (counted in the
diagnostics) and never builds a queue. A frame that cannot be processed (wrong encoding,
corrupt data) is logged (throttled) and reported as a diagnostics ERROR; the node keeps going.

With ``online_finetune`` the node also adapts its networks to the camera it watches: a
background :class:`~defeat_ros.trainer.online.OnlineFinetuner` trains a copy on the processed
frames and swaps validated improvements into the Perception (a second diagnostics status
reports its steps, losses, swaps and rollbacks).
"""

from dataclasses import fields
import sys
import threading
import time

from defeat_ros.camera.camera_info_cache import CameraInfoCache
from defeat_ros.camera.frame_step import FrameStep, OUTPUT_TOPICS
from defeat_ros.camera.model_location import ConfigurationError, resolve_model
from defeat_ros.camera.model_location import default_model_candidates, PACKAGE  # noqa: F401
from defeat_ros.camera.options import OutputOptions
from defeat_ros.messages.builders import transform_msg
from defeat_ros.messages.decode import parameter_intrinsics
from defeat_ros.messages.image_encoding import UnsupportedEncoding
from defeat_ros.messages.typestore import header
from defeat_ros.messages.typestore import stamp_to_ns
from defeat_ros.ros import parameters
from defeat_ros.ros.diagnostics import diagnostic_status, online_status, PipelineStats
from defeat_ros.ros.latest_slot import LatestSlot
from defeat_ros.ros.message_bridge import rclpy_class, to_rclpy
from defeat_ros.ros.node_main import run_node
from defeat_ros.ros.qos import qos_profile
from defeat_ros.runtime.backends import leave_cpu_to_backend, resolve_device
from defeat_ros.runtime.perception import Perception
from defeat_ros.trainer.online import OnlineConfig, OnlineFinetuner
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

try:  # tf2_ros is not on PyPI: TF is broadcast where a ROS 2 installation provides it
    from tf2_ros import TransformBroadcaster
except ImportError:
    TransformBroadcaster = None

NODE_NAME = 'defeat'
DIAGNOSTICS_PERIOD_S = 1.0
ERROR_THROTTLE_S = 5.0
"""At most one error log line per this many seconds (every error still counts)."""

OUTPUTS = {key: (rclpy_class(msgtype), topic) for key, (msgtype, topic) in OUTPUT_TOPICS.items()}
"""Published outputs: key -> (message type, relative topic)."""


def compressed_topic(node):
    """
    Return the topic of compressed images, following image_transport's naming rule.

    A remap of ``image/compressed`` itself wins; otherwise it is ``<image>/compressed`` with
    ``image`` resolved through the remaps (``image:=image_raw`` -> ``image_raw/compressed``).
    """
    remapped = node.resolve_topic_name('image/compressed')
    if remapped != node.resolve_topic_name('image/compressed', only_expand=True):
        return remapped
    return node.resolve_topic_name('image') + '/compressed'


class DepthNode(Node):
    """Depth, features, odometry and points from one camera (see the module docstring)."""

    def __init__(self, node_name=NODE_NAME, **kwargs):
        """
        Declare the parameters, load the model and connect the topics.

        :param kwargs: passed to rclpy's Node (namespace, parameter_overrides, context, ...).
        :raises ConfigurationError: when there is no model.
        :raises rclpy.exceptions.ParameterException: for invalid parameter values.
        :raises ValueError: for an unknown QoS profile or a backend that cannot run the model.
        """
        super().__init__(node_name, **kwargs)
        self._slot = LatestSlot()
        self._worker = None
        try:
            self._setup()
        except BaseException:
            self.destroy_node()
            raise

    def _setup(self):
        """Declare parameters, load the model, connect the topics and start the worker."""
        parameters.declare(self)
        config = parameters.values(self)
        input_qos = qos_profile(config['input_qos'], 'input_qos')
        output_qos = qos_profile(config['output_qos'], 'output_qos')
        self.model_dir = resolve_model(config['model'])
        self.perception = Perception(self.model_dir, config['backend'], config['scale_mode'],
                                     config['camera_height'], device=config['device'],
                                     precision=config['precision'])
        self._online = self._start_online(config) if config['online_finetune'] else None
        self._warned = set()
        self._step = FrameStep(self.perception, camera_info=CameraInfoCache(
            topic=self.resolve_topic_name('camera_info'),
            fallback_name='the fx, fy, cx, cy parameters', warn=self._warn_once))
        self._outputs = {key: self.create_publisher(kind, topic, output_qos)
                         for key, (kind, topic) in OUTPUTS.items()}
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        if config['image_transport'] == 'compressed':
            self.image_topic = compressed_topic(self)
            self.create_subscription(CompressedImage, self.image_topic, self._on_image,
                                     input_qos)
        else:
            self.image_topic = self.resolve_topic_name('image')
            self.create_subscription(Image, 'image', self._on_image, input_qos)
        self.create_subscription(CameraInfo, 'camera_info', self._step.camera_info.update,
                                 input_qos)
        self._broadcaster = None
        self._scale = (1.0, None)
        self._stats = PipelineStats()
        self._worker = threading.Thread(target=self._work, name='defeat_inference', daemon=True)
        self._worker.start()
        self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(
            f'model {self.model_dir} on {self.perception.backend.name}; images from '
            f'{self.image_topic}')

    def _start_online(self, config):
        """Start online fine-tuning on a copy of the model (see online_finetune)."""
        device = resolve_device(config['device'])
        settings = OnlineConfig(
            checkpoint_dir=config['online_checkpoint_dir'], step_rate=config['online_step_rate'],
            buffer_size=config['online_buffer_size'],
            learning_rate=config['online_learning_rate'],
            validate_every=config['online_validate_every'])
        self.get_logger().info(f'online fine-tuning on {device}; accepted models go to '
                               f'{settings.checkpoint_dir}')
        return OnlineFinetuner(self.model_dir, settings, self.perception.swap_model,
                               self.get_logger().info, device)

    def _on_image(self, message):
        """Offer the newest frame to the worker (replacing one it has not started)."""
        self._stats.received(self._slot.put((message, time.monotonic())))

    def _work(self):
        """Process frames until the node is destroyed; no frame's failure stops the loop."""
        while True:
            frame = self._slot.take()
            if frame is None or not self.context.ok():
                return
            try:
                self._process(*frame, taken=time.monotonic())
            except (UnsupportedEncoding, ValueError) as error:
                self._fail(f'bad input frame: {error}')
            except Exception as error:  # a failing backend must not silence the node for good
                self._fail(f'processing failed: {type(error).__name__}: {error}')

    def _fail(self, message):
        """Count and (throttled) log a frame that could not be processed."""
        self._stats.failed(message)
        if self.context.ok():
            self.get_logger().error(message, throttle_duration_sec=ERROR_THROTTLE_S)

    def _subscribed(self, key):
        return self._outputs[key].get_subscription_count() > 0

    def _wanted(self, config):
        """Return which outputs to build: those with subscribers and switched on."""
        return {
            'depth': self._subscribed('depth'),
            'depth_info': self._subscribed('depth_info'),
            'features': config['publish_features'] and self._subscribed('features'),
            'features_visual': config['publish_visuals'] and self._subscribed('features_visual'),
            'depth_visual': config['publish_visuals'] and self._subscribed('depth_visual'),
            'points': config['publish_points'] and self._subscribed('points'),
        }

    def _process(self, message, received, taken):
        """
        Run Perception on one frame and publish every wanted output with its header.

        :param message: the Image or CompressedImage.
        :param received: monotonic time the subscription callback got it.
        :param taken: monotonic time the inference thread took it from the slot.
        """
        config = parameters.values(self)
        self.perception.set_scale(config['scale_mode'], config['camera_height'])
        self._step.options = OutputOptions(**{f.name: config[f.name]
                                              for f in fields(OutputOptions)})
        self._step.camera_info.fallback = parameter_intrinsics(config['fx'], config['fy'],
                                                               config['cx'], config['cy'])
        wanted = {key for key, on in self._wanted(config).items() if on}
        frame = self._step(message, wanted | {'odometry'})
        if frame.estimate.reset_reason not in ('', 'first frame'):
            self.get_logger().info(f'odometry reset: {frame.estimate.reset_reason}',
                                   throttle_duration_sec=ERROR_THROTTLE_S)
        for key, output in frame.messages.items():
            self._send(key, output)
        if config['publish_tf']:
            self._broadcast(transform_msg(frame.estimate.t_odom_base,
                                          header(stamp_to_ns(message.header.stamp),
                                                 config['odom_frame']),
                                          config['base_frame']))
        self._stats.processed(time.monotonic() - received, frame.result.seconds,
                              taken - received)
        self._scale = (frame.result.scale, frame.result.scale_confidence)
        if self._online is not None:
            if frame.estimate.reset_reason:
                self._online.reset()
            self._online.add_frame(frame.result.frame, frame.k_norm)

    def _send(self, key, message):
        """Publish a rosbags-built message on output ``key``."""
        self._outputs[key].publish(to_rclpy(message))

    def _broadcast(self, transform):
        """Send TF odom -> base when tf2_ros is importable."""
        if TransformBroadcaster is None:
            self.get_logger().warning(
                'publish_tf is true but tf2_ros cannot be imported; no TF is broadcast',
                once=True)
            return
        if self._broadcaster is None:
            self._broadcaster = TransformBroadcaster(self)
        self._broadcaster.sendTransform(to_rclpy(transform))

    def _warn_once(self, kind, message):
        """Log a warning of ``kind`` the first time only (cheaper than the logger's ``once``)."""
        if message not in self._warned:
            self._warned.add(message)
            self.get_logger().warning(message)

    def _publish_diagnostics(self):
        """Publish the period's rate, latency, drops and errors on /diagnostics."""
        status = diagnostic_status(
            self._stats.report(), f'{self.get_fully_qualified_name()}: perception',
            self.perception.backend.name,
            [('backend', self.perception.backend.name), ('model', str(self.model_dir)),
             ('image topic', self.image_topic),
             ('intrinsics', 'parameters' if self._step.camera_info.latest is None
              else 'camera_info'),
             ('scale mode', self.perception.scale_mode), ('depth scale', f'{self._scale[0]:.4g}'),
             ('ground plane inliers', '-' if self._scale[1] is None
              else f'{self._scale[1]:.2f}')],
            self.image_topic)
        array = DiagnosticArray(status=[status])
        if self._online is not None:
            array.status.append(online_status(
                self._online.stats, f'{self.get_fully_qualified_name()}: online fine-tuning',
                self.perception.backend.name))
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(array)

    def destroy_node(self):
        """Stop the worker thread, then destroy the node."""
        self._slot.close()
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout=30.0)
        if getattr(self, '_online', None) is not None:
            self._online.close()
        return super().destroy_node()


def make_process_node():
    """Build the node for a process of its own (see ``leave_cpu_to_backend``)."""
    node = DepthNode()
    leave_cpu_to_backend(node.perception.backend)
    return node


def main(args=None):
    """Run the node until shutdown; exit status 1 when it cannot start."""
    return run_node(make_process_node, NODE_NAME, (ConfigurationError, ParameterException,
                                                   ValueError, OSError, RuntimeError), args=args)


if __name__ == '__main__':
    sys.exit(main())
