"""
The DeFeat-Net node (executable ``defeat_node``, node name ``defeat``).

Camera images in; depth, dense features, odometry and a coloured point cloud out, exactly as
the ROS interface of DESIGN.md specifies (relative topic names, so namespaces and remaps work):

| topic | type | |
| --- | --- | --- |
| ``image`` or ``image/compressed`` | sensor_msgs/Image or CompressedImage | subscribed |
| ``camera_info`` | sensor_msgs/CameraInfo | subscribed, latest usable one wins |
| ``speed_topic`` | ``speed_type``: Odometry, TwistStamped... | subscribed when set |
| ``depth/image`` | sensor_msgs/Image 32FC1 (m) | at ``output_resolution`` |
| ``depth/camera_info`` | sensor_msgs/CameraInfo | intrinsics at the depth's size |
| ``features/image`` | sensor_msgs/Image 32FC<n> | at ``features_resolution``, while subscribed |
| ``features/camera_info`` | sensor_msgs/CameraInfo | intrinsics at the features' size |
| ``depth/visual``, ``features/visual`` | sensor_msgs/Image rgb8 | computed while subscribed |
| ``odometry`` | nav_msgs/Odometry | ``odom_frame`` -> ``base_frame`` |
| ``points`` | sensor_msgs/PointCloud2 | computed while subscribed |
| ``/diagnostics`` | diagnostic_msgs/DiagnosticArray | about once a second |

The node is thin: parameters live in :mod:`~defeat_ros.ros.parameters`; decoding, camera_info
(:mod:`~defeat_ros.camera.camera_info_cache`), Perception, odometry and the output messages are
one :class:`~defeat_ros.camera.frame_step.FrameStep` call, the step process-bag runs too. The
node keeps the rclpy work: topics, parameters, TF, diagnostics and its lifecycle.

It is a managed (lifecycle) node: configure loads the model and creates the publishers,
activate subscribes and starts the inference thread, deactivate unsubscribes and stops it,
cleanup frees the model. With ``autostart`` (the default) it configures and activates itself
on start; with ``autostart: false`` it waits for a lifecycle manager (nav2's, or
``ros2 lifecycle set``).

The subscriptions use ``input_qos`` (default ``BEST_AVAILABLE``: reliable for reliable cameras,
so large frames are retransmitted rather than lost;
:class:`~defeat_ros.ros.adaptive_subscription.AdaptiveSubscription` switches to best effort
when a best-effort camera appears). The subscription callback notes the frame's stamp
(:class:`~defeat_ros.camera.input_stream.InputStream`: the camera's rate, frames lost
upstream, gaps for the odometry) and drops the message into a one-frame
:class:`~defeat_ros.ros.latest_slot.LatestSlot`; a worker thread runs inference on the newest
frame, so a slow model drops frames (counted in the diagnostics) and never builds a queue, and
odometry keeps tracking across the frames it skipped. A frame that cannot be processed (wrong
encoding, corrupt data) is logged (throttled per kind of error) and reported as a diagnostics
ERROR; the node keeps going.

With ``online_finetune`` the node also adapts its networks to the camera it watches: a
background :class:`~defeat_ros.trainer.online.OnlineFinetuner` trains a copy on the processed
frames and swaps validated improvements into the Perception (a second diagnostics status
reports its steps, losses, swaps and rollbacks). With a ``speed_topic`` (the vehicle's wheel
odometry, CAN or INS: Odometry, TwistStamped or TwistWithCovarianceStamped, ``speed_type``)
each frame gets the speed at its stamp (:class:`~defeat_ros.camera.speed_history.SpeedHistory`;
frames wait up to half a second for the measurement after them,
:class:`~defeat_ros.camera.speed_history.AwaitSpeed`) and the fine-tuning learns metric depth
and odometry from it; without speed, ``scale_mode`` camera_height makes the fine-tuned models
metric with the road plane at ``camera_height`` instead.

With ``scale_mode`` speed (which needs a ``speed_topic``), the odometry's steps take their
length from the speed integrated between the frames
(:meth:`~defeat_ros.camera.speed_history.SpeedHistory.travelled`; a frame newer than the last
measurement holds its speed for up to half a second, so the odometry does not wait for the
wheel) and the depth is scaled to match (:mod:`~defeat_ros.runtime.speed_scale`). The
diagnostics count the steps the speed set; a step no measurement covers keeps the smoothed
scale and is logged (throttled).
"""

from dataclasses import fields
import sys
import threading
import time

from defeat_ros.camera.camera_info_cache import CameraInfoCache
from defeat_ros.camera.frame_step import FrameStep, OUTPUT_TOPICS
from defeat_ros.camera.input_stream import InputStream
from defeat_ros.camera.model_location import ConfigurationError, resolve_model
from defeat_ros.camera.model_location import default_model_candidates, PACKAGE  # noqa: F401
from defeat_ros.camera.options import OutputOptions
from defeat_ros.camera.speed_history import AwaitSpeed, SpeedHistory
from defeat_ros.messages.builders import transform_msg
from defeat_ros.messages.decode import parameter_intrinsics, twist_speed
from defeat_ros.messages.image_encoding import UnsupportedEncoding
from defeat_ros.messages.typestore import header
from defeat_ros.messages.typestore import stamp_to_ns
from defeat_ros.ros import parameters
from defeat_ros.ros.adaptive_subscription import AdaptiveSubscription
from defeat_ros.ros.diagnostics import diagnostic_status, online_status, PipelineStats
from defeat_ros.ros.latest_slot import LatestSlot
from defeat_ros.ros.log_throttle import LogThrottle
from defeat_ros.ros.message_bridge import rclpy_class, to_rclpy
from defeat_ros.ros.node_main import run_node
from defeat_ros.ros.qos import qos_profile
from defeat_ros.runtime.backends import device_description, leave_cpu_to_backend
from defeat_ros.runtime.backends import resolve_device
from defeat_ros.runtime.perception import Perception
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import ParameterException
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

try:  # tf2_ros is not on PyPI: TF is broadcast where a ROS 2 installation provides it
    from tf2_ros import TransformBroadcaster
except ImportError:
    TransformBroadcaster = None

NODE_NAME = 'defeat'
DIAGNOSTICS_PERIOD_S = 1.0
LOG_THROTTLE_S = 5.0
"""At most one log line per kind of problem per this many seconds (every error still counts)."""

TRANSPORT_DOCS = 'docs/ros.md, "Large images: transport"'
"""Where the diagnostics send a user whose frames are lost before they reach the node."""
NOT_METRIC = ('the model was trained without speed or camera height: depth and odometry have '
              'an arbitrary scale (scale_mode camera_height or speed, or a model fine-tuned '
              'with the vehicle speed, gives metres; docs/metric_scale.md)')
SPEED_NEEDS_TOPIC = ('scale_mode speed needs the vehicle speed: set speed_topic (read-only, so '
                     'at start)')

OUTPUTS = {key: (rclpy_class(msgtype), topic) for key, (msgtype, topic) in OUTPUT_TOPICS.items()}
"""Published outputs: key -> (message type, relative topic)."""

SWITCHES = {'features': 'publish_features', 'features_info': 'publish_features',
            'features_visual': 'publish_visuals', 'depth_visual': 'publish_visuals',
            'points': 'publish_points'}
"""Outputs a parameter switches off (the others are built whenever someone subscribes)."""

SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE


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


class DepthNode(LifecycleNode):
    """Depth, features, odometry and points from one camera (see the module docstring)."""

    def __init__(self, node_name=NODE_NAME, owns_process=False, **kwargs):
        """
        Declare the parameters; with ``autostart`` (the default) also configure and activate.

        :param owns_process: the node runs alone in its process: each configure leaves the CPU
            to its backend (``leave_cpu_to_backend``), however it is configured (autostart or a
            lifecycle manager).
        :param kwargs: passed to rclpy's Node (namespace, parameter_overrides, context, ...).
        :raises ConfigurationError: when there is no model (autostart).
        :raises rclpy.exceptions.ParameterException: for invalid parameter values.
        :raises ValueError: for an unknown QoS profile or a backend that cannot run the model
            (autostart).
        """
        super().__init__(node_name, **kwargs)
        self.owns_process = owns_process
        self.perception = None
        self._online = None
        self._slot = None
        self._worker = None
        self._inputs = []
        self._outputs = {}
        self._diagnostics_timer = None
        self._configure_error = None
        try:
            parameters.declare(self)
            self.add_on_set_parameters_callback(self._check_scale_mode)
            if self.get_parameter('autostart').value:
                self.start()
        except BaseException:
            self.destroy_node()
            raise

    def start(self):
        """Configure and activate, as a lifecycle manager would; raise why configure failed."""
        if self.trigger_configure() != SUCCESS:
            raise self._configure_error
        if self.trigger_activate() != SUCCESS:
            raise RuntimeError('activating the node failed')

    def on_configure(self, state):
        """Load the model and create the publishers and the diagnostics timer."""
        try:
            self._configure(parameters.values(self))
        except Exception as error:  # noqa: B902 - reported as FAILURE; start() re-raises it
            self._configure_error = error
            self.get_logger().error(f'configure failed: {error}')
            self._release()
            return FAILURE
        return SUCCESS

    def _check_scale_mode(self, changes):
        """Refuse ``scale_mode`` speed at run time when the node has no ``speed_topic``."""
        for parameter in changes:
            if parameter.name == 'scale_mode' and parameter.value == 'speed' \
                    and not self.get_parameter('speed_topic').value:
                return SetParametersResult(successful=False, reason=SPEED_NEEDS_TOPIC)
        return SetParametersResult(successful=True)

    def _configure(self, config):
        """Everything of :meth:`on_configure`, raising on failure."""
        if config['scale_mode'] == 'speed' and not config['speed_topic']:
            raise ValueError(SPEED_NEEDS_TOPIC)
        self._input_qos = qos_profile(config['input_qos'], 'input_qos')
        output_qos = qos_profile(config['output_qos'], 'output_qos')
        self.model_dir = resolve_model(config['model'])
        self.perception = Perception(self.model_dir, config['backend'], config['scale_mode'],
                                     config['camera_height'], config['pose_refinement'],
                                     device=config['device'],
                                     precision=config['precision'])
        self.hardware = device_description(self.perception.backend)
        self._online = self._start_online(config) if config['online_finetune'] else None
        if self.owns_process:  # after online fine-tuning, which imports torch
            leave_cpu_to_backend(self.perception.backend)
        self._speeds = SpeedHistory()
        self._awaiting_speed = AwaitSpeed(self._speeds)
        self._warned = set()
        self._throttle = LogThrottle(LOG_THROTTLE_S)
        self._step = FrameStep(self.perception, camera_info=CameraInfoCache(
            topic=self.resolve_topic_name('camera_info'),
            fallback_name='the fx, fy, cx, cy parameters', warn=self._warn_once),
            speeds=self._speeds)
        self._outputs = {key: self.create_publisher(kind, topic, output_qos)
                         for key, (kind, topic) in OUTPUTS.items()}
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._broadcaster = None
        self._scale = (1.0, None, 1.0)
        self._poses = {'refined': 0, 'from speed': 0, 'computed': 0}  # relative poses
        self._stats = PipelineStats()
        self._stream = InputStream()
        self._lost_reported = 0
        self._diagnostics_timer = self.create_timer(
            DIAGNOSTICS_PERIOD_S, self._on_diagnostics_timer,
            clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(f'model {self.model_dir} on {self.perception.backend.name} '
                               f'({self.hardware})')
        if not self.perception.metric_source:
            self.get_logger().warning(NOT_METRIC)

    def on_activate(self, state):
        """Subscribe to the camera and start the inference thread."""
        config = parameters.values(self)
        if config['image_transport'] == 'compressed':
            self.image_topic, kind = compressed_topic(self), CompressedImage
        else:
            self.image_topic, kind = self.resolve_topic_name('image'), Image
        self._slot = LatestSlot()
        self._inputs = [
            AdaptiveSubscription(self, kind, self.image_topic, self._on_image, self._input_qos),
            AdaptiveSubscription(self, CameraInfo, 'camera_info', self._step.camera_info.update,
                                 self._input_qos)]
        if config['speed_topic']:
            self._inputs.append(AdaptiveSubscription(
                self, rclpy_class(config['speed_type']), config['speed_topic'], self._on_speed,
                self._input_qos))
            self.get_logger().info(f"vehicle speed from {config['speed_topic']} "
                                   f"({config['speed_type']})")
        self._worker = threading.Thread(target=self._work, args=(self._slot,),
                                        name='defeat_inference', daemon=True)
        self._worker.start()
        self.get_logger().info(f'active: images from {self.image_topic}')
        return super().on_activate(state)

    def on_deactivate(self, state):
        """Unsubscribe and stop the inference thread (the model stays loaded)."""
        self._stop_inputs()
        self.get_logger().info('inactive')
        return super().on_deactivate(state)

    def on_cleanup(self, state):
        """Free the model, the publishers and the timer."""
        self._release()
        return super().on_cleanup(state)

    def on_shutdown(self, state):
        """Stop everything, from whichever state."""
        self._stop_inputs()
        self._release()
        return super().on_shutdown(state)

    def _stop_inputs(self):
        """Destroy the subscriptions, then let the inference thread finish its frame."""
        for subscription in self._inputs:
            subscription.destroy()
        self._inputs = []
        if self._slot is not None:
            self._slot.close()
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout=30.0)
        self._worker = self._slot = None

    def _release(self):
        """Free what configure made (safe to call on a partly configured node)."""
        if self._online is not None:
            self._online.close()
        for publisher in self._outputs.values():
            self.destroy_publisher(publisher)
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self.destroy_publisher(self._diagnostics)
        self._online, self._outputs, self._diagnostics_timer = None, {}, None
        self.perception = None

    def _start_online(self, config):
        """
        Start online fine-tuning on a copy of the model (see online_finetune).

        Training imports torch, so only a node that fine-tunes imports it (here): a node running
        ONNX Runtime or OpenVINO starts without it.
        """
        from defeat_ros.trainer.online import OnlineConfig, OnlineFinetuner
        device = resolve_device(config['device'])
        settings = OnlineConfig(
            checkpoint_dir=config['online_checkpoint_dir'], step_rate=config['online_step_rate'],
            buffer_size=config['online_buffer_size'],
            learning_rate=config['online_learning_rate'], replay=config['online_replay'],
            validate_every=config['online_validate_every'],
            camera_height=config['camera_height'] if config['scale_mode'] == 'camera_height'
            else 0.0)
        self.get_logger().info(f'online fine-tuning on {device}; accepted models go to '
                               f'{settings.checkpoint_dir}')
        return OnlineFinetuner(self.model_dir, settings, self.perception.swap_model,
                               self.get_logger().info, device)

    def _on_image(self, message):
        """Note the frame's stamp and offer the frame to the worker (replacing an untaken one)."""
        slot = self._slot
        if slot is None:  # deactivated while the message was on its way
            return
        self._stream.add(stamp_to_ns(message.header.stamp))
        self._stats.received(slot.put((message, time.monotonic())))

    def _on_speed(self, message):
        """Record the vehicle's speed at the message's stamp."""
        self._speeds.add(stamp_to_ns(message.header.stamp), twist_speed(message))

    def _work(self, slot):
        """Process frames until ``slot`` closes; no frame's failure stops the loop."""
        while True:
            frame = slot.take()
            if frame is None or not self.context.ok():
                return
            try:
                self._process(*frame, taken=time.monotonic())
            except (UnsupportedEncoding, ValueError) as error:
                self._fail('bad input frame', error)
            except Exception as error:  # a failing backend must not silence the node for good
                self._fail('processing failed', error)

    def _fail(self, what, error):
        """Count and (throttled per kind of error) log a frame that could not be processed."""
        message = f'{what}: {type(error).__name__}: {error}'
        self._stats.failed(message)
        if self.context.ok():
            self._throttle(f'{what}: {type(error).__name__}', message,
                           self.get_logger().error)

    def _wanted(self, config):
        """Return the outputs to build: those with subscribers and not switched off."""
        return {key for key, publisher in self._outputs.items()
                if publisher.get_subscription_count() > 0
                and config.get(SWITCHES.get(key), True)}

    def _process(self, message, received, taken):
        """
        Run Perception on one frame and publish every wanted output with its header.

        :param message: the Image or CompressedImage.
        :param received: monotonic time the subscription callback got it.
        :param taken: monotonic time the inference thread took it from the slot.
        """
        config = parameters.values(self)
        self.perception.set_scale(config['scale_mode'], config['camera_height'])
        self.perception.pose_refinement = config['pose_refinement']
        self._step.options = OutputOptions(**{f.name: config[f.name]
                                              for f in fields(OutputOptions)})
        self._step.camera_info.fallback = parameter_intrinsics(config['fx'], config['fy'],
                                                               config['cx'], config['cy'])
        stamp = stamp_to_ns(message.header.stamp)
        frame = self._step(message, self._wanted(config) | {'odometry'},
                           input_gap_s=self._stream.longest_gap_until(stamp))
        if frame.estimate.reset_reason not in ('', 'first frame'):
            self._throttle('odometry reset', f'odometry reset: {frame.estimate.reset_reason}',
                           self.get_logger().info)
        for key, output in frame.messages.items():
            self._outputs[key].publish(to_rclpy(output))
        if config['publish_tf']:
            self._broadcast(transform_msg(frame.estimate.t_odom_base,
                                          header(stamp, config['odom_frame']),
                                          config['base_frame']))
        self._stats.processed(time.monotonic() - received, frame.result.seconds,
                              taken - received)
        self._scale = (frame.result.scale, frame.result.scale_confidence,
                       frame.result.focal_ratio)
        if frame.result.transform is not None:
            self._poses['refined'] += frame.result.pose_refined
            self._poses['from speed'] += frame.result.step_from_speed
            self._poses['computed'] += 1
            if self.perception.scale_mode == 'speed' and not frame.result.step_from_speed:
                self._throttle('no speed', f"no speed on {config['speed_topic']} covers the step "
                               f'to the frame of {stamp * 1e-9:.3f} s: its length keeps the '
                               'smoothed scale', self.get_logger().warning)
        if self._online is not None:
            self._offer_online(frame, stamp)

    def _offer_online(self, frame, stamp):
        """Give online fine-tuning the frame once its speed is known (AwaitSpeed), in order."""
        if frame.estimate.reset_reason:  # the frames before the break go first
            self._feed_online(self._awaiting_speed.flush())
            self._online.reset()
        self._feed_online(self._awaiting_speed.add(stamp, (frame.result.frame, frame.k_norm)))

    def _feed_online(self, released):
        """Add AwaitSpeed's released ((frame, k_norm), stamp_ns, speed) to online fine-tuning."""
        for (network_frame, k_norm), stamp, speed in released:
            self._online.add_frame(network_frame, k_norm, stamp * 1e-9, speed)

    def _broadcast(self, transform):
        """Send TF odom -> base when tf2_ros is importable."""
        if TransformBroadcaster is None:
            self._warn_once('tf', 'publish_tf is true but tf2_ros cannot be imported; no TF is '
                            'broadcast')
            return
        if self._broadcaster is None:
            self._broadcaster = TransformBroadcaster(self)
        self._broadcaster.sendTransform(to_rclpy(transform))

    def _warn_once(self, kind, message):
        """Log a warning of ``kind`` the first time only (cheaper than the logger's ``once``)."""
        if message not in self._warned:
            self._warned.add(message)
            self.get_logger().warning(message)

    def _on_diagnostics_timer(self):
        """Adapt the subscriptions' QoS if needed, then publish the diagnostics."""
        for subscription in self._inputs:
            change = subscription.check()
            if change:
                self.get_logger().info(change)
        self._publish_diagnostics()

    def _publish_diagnostics(self):
        """Publish the period's rate, latency, drops, upstream losses and errors."""
        lost = self._stream.lost
        lost_in_period, self._lost_reported = lost - self._lost_reported, lost
        period = self._stream.period()
        status = diagnostic_status(
            self._stats.report(), f'{self.get_fully_qualified_name()}: perception',
            self.hardware,
            [('backend', self.perception.backend.name), ('model', str(self.model_dir)),
             ('lifecycle state', self._state_machine.current_state[1]),
             ('image topic', getattr(self, 'image_topic', '-')),
             ('intrinsics', self._step.camera_info.source()),
             ('camera rate (Hz)', '-' if period is None else f'{1.0 / period:.2f}'),
             ('frames lost upstream', str(lost)),
             ('scale mode', self.perception.scale_mode),
             ('metric depth', f'yes, from {self.perception.metric_source}'
              if self.perception.metric_source else f'no: {NOT_METRIC}'),
             ('camera fy/H over the training camera', f'{self._scale[2]:.4g}'),
             ('depth scale', f'{self._scale[0]:.4g}'),
             ('ground plane inliers', '-' if self._scale[1] is None
              else f'{self._scale[1]:.2f}'),
             ('pose refinement', f'{self.perception.pose_refinement}: '
              f"{self._poses['refined']} of {self._poses['computed']} relative poses refined"),
             ('steps from vehicle speed', f"{self._poses['from speed']} of "
              f"{self._poses['computed']}")],
            getattr(self, 'image_topic', 'the image topic (the node is not active)'),
            lost_upstream=lost_in_period, docs=TRANSPORT_DOCS)
        array = DiagnosticArray(status=[status])
        if self._online is not None:
            array.status.append(online_status(
                self._online.stats, f'{self.get_fully_qualified_name()}: online fine-tuning',
                self.hardware))
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(array)

    def destroy_node(self):
        """Stop the worker thread and online fine-tuning, then destroy the node."""
        self._stop_inputs()
        if self._online is not None:
            self._online.close()
            self._online = None
        return super().destroy_node()


def make_process_node():
    """Build the node for a process of its own (see ``leave_cpu_to_backend``)."""
    return DepthNode(owns_process=True)


def main(args=None):
    """Run the node until SIGINT or SIGTERM; exit status 1 when it cannot start."""
    return run_node(make_process_node, NODE_NAME, (ConfigurationError, ParameterException,
                                                   ValueError, OSError, RuntimeError), args=args)


if __name__ == '__main__':
    sys.exit(main())
