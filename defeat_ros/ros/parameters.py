"""
The DeFeat-Net node's parameters: names, typed defaults, descriptors and validation.

The table :data:`PARAMETERS` is the single source; ``config/depth.yaml`` lists the same names
with the same defaults (a test compares them). Ranges go into the descriptors, where rclpy
enforces them; choices and patterns are checked by :func:`check`, which the node registers as
its on-set-parameters callback before declaring, so the same rules apply to values from
parameter files, the command line and run-time ``set_parameters`` calls. Read-only parameters
are loaded once at start-up (the model, its backend and the connections); rclpy rejects setting
them at run time with 'Trying to set a read-only parameter'.
"""

from dataclasses import dataclass
import re

from defeat_ros.ros.qos import QOS_NAMES
from defeat_ros.runtime.backends import BACKENDS
from defeat_ros.runtime.perception import SCALE_MODES
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rcl_interfaces.msg import SetParametersResult

RESTART = ' (read-only: restart the node to change it)'


@dataclass(frozen=True)
class Spec:
    """One parameter: name, typed default, description and constraints."""

    name: str
    default: object
    description: str
    read_only: bool = False
    choices: tuple = ()
    pattern: str = ''
    """A regular expression the whole string value must match."""
    minimum: float = None
    maximum: float = None

    def descriptor(self):
        """Return the ParameterDescriptor of this parameter."""
        constraints = ''
        if self.choices:
            constraints = 'one of: ' + ', '.join(self.choices)
        elif self.pattern:
            constraints = f'matches {self.pattern}'
        descriptor = ParameterDescriptor(
            description=self.description + (RESTART if self.read_only else ''),
            additional_constraints=constraints, read_only=self.read_only)
        if self.minimum is not None and isinstance(self.default, int):
            descriptor.integer_range = [
                IntegerRange(from_value=self.minimum, to_value=self.maximum, step=1)]
        elif self.minimum is not None:
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=self.minimum, to_value=self.maximum, step=0.0)]
        return descriptor

    def problem(self, value):
        """Say what is wrong with ``value`` ('' when it is valid); ranges are rclpy's job."""
        if self.choices and value not in self.choices:
            return (f'parameter {self.name}: {value!r} is not one of '
                    f'{", ".join(self.choices)}')
        if self.pattern and not re.fullmatch(self.pattern, str(value)):
            return f'parameter {self.name}: {value!r} does not match {self.pattern}'
        return ''


PARAMETERS = (
    Spec('model', '', 'Model directory (config.json + *.safetensors); empty: the default '
         'model in share/defeat_ros/models/default', read_only=True),
    Spec('backend', 'auto', 'Inference backend', read_only=True, choices=BACKENDS),
    Spec('device', 'auto', 'Device: auto, cpu, cuda or cuda:<index>', read_only=True,
         pattern=r'auto|cpu|cuda(:\d+)?'),
    Spec('precision', 'fp32', 'Numeric precision: fp32, fp16 (GPU backends), bf16 (CPU '
         'PyTorch) or int8 (ONNX Runtime); the backend rejects what it cannot run',
         read_only=True, choices=('fp32', 'fp16', 'bf16', 'int8')),
    Spec('output_resolution', 'input', "Size of the published depth and features: 'input' "
         "(the camera image's) or 'model' (the network's)", choices=('input', 'model')),
    Spec('publish_features', True, 'Publish features (32FC<n>) while someone subscribes'),
    Spec('publish_visuals', True, 'Publish depth/visual and features/visual (rgb8) while '
         'someone subscribes'),
    Spec('publish_points', True, 'Publish the coloured point cloud while someone subscribes'),
    Spec('point_stride', 4, 'Keep every point_stride-th pixel in both directions for points',
         minimum=1, maximum=64),
    Spec('odom_frame', 'odom', 'Fixed frame of the odometry (REP-105)', pattern=r'\S+'),
    Spec('base_frame', 'base_link', 'Body frame whose motion the odometry reports (REP-105)',
         pattern=r'\S+'),
    Spec('publish_tf', False, 'Broadcast TF odom_frame -> base_frame (needs tf2_ros)'),
    Spec('scale_mode', 'model', 'Where metric depth and odometry scale comes from: model (the '
         'scale it was trained at) or camera_height (a ground plane fitted to the depth at '
         'camera_height below the camera)', choices=SCALE_MODES),
    Spec('camera_height', 1.65, 'Height of the camera above the ground (m), for scale_mode '
         'camera_height', minimum=0.05, maximum=100.0),
    Spec('image_transport', 'raw', "Image subscription: 'raw' (image) or 'compressed' "
         '(image/compressed)', read_only=True, choices=('raw', 'compressed')),
    Spec('input_qos', 'SENSOR_DATA', 'QoS profile of the subscriptions', read_only=True,
         choices=QOS_NAMES),
    Spec('output_qos', 'DEFAULT', 'QoS profile of the publishers', read_only=True,
         choices=QOS_NAMES),
    Spec('fx', 0.58, 'Fallback focal length x / image width, used until camera_info arrives',
         minimum=0.01, maximum=100.0),
    Spec('fy', 1.92, 'Fallback focal length y / image height', minimum=0.01, maximum=100.0),
    Spec('cx', 0.5, 'Fallback principal point x / image width', minimum=0.0, maximum=1.0),
    Spec('cy', 0.5, 'Fallback principal point y / image height', minimum=0.0, maximum=1.0),
    Spec('max_gap_s', 0.5, 'A gap between frames longer than this (s) resets odometry',
         minimum=0.001, maximum=3600.0),
    Spec('online_finetune', False, 'Fine-tune the networks self-supervised on the incoming '
         'frames in the background; validated improvements are swapped in', read_only=True),
    Spec('online_checkpoint_dir', 'defeat_online', 'Where online fine-tuning saves the models '
         'it swaps in (relative to the working directory)', read_only=True, pattern=r'\S+'),
    Spec('online_step_rate', 1.0, 'Most online training steps per second', read_only=True,
         minimum=0.01, maximum=100.0),
    Spec('online_buffer_size', 60, 'Frame triplets kept for online training', read_only=True,
         minimum=4, maximum=10000),
    Spec('online_learning_rate', 2e-5, 'Adam learning rate of online fine-tuning',
         read_only=True, minimum=1e-8, maximum=0.01),
    Spec('online_validate_every', 20, 'Online training steps between validations (and swaps)',
         read_only=True, minimum=1, maximum=100000),
)
"""Every parameter of the node, in the order of config/depth.yaml."""

SPECS = {spec.name: spec for spec in PARAMETERS}


def check(parameters):
    """Validate rclpy Parameters against :data:`PARAMETERS`: a SetParametersResult."""
    for parameter in parameters:
        spec = SPECS.get(parameter.name)
        problem = spec.problem(parameter.value) if spec else ''
        if problem:
            return SetParametersResult(successful=False, reason=problem)
    return SetParametersResult(successful=True)


def declare(node):
    """
    Declare every parameter on ``node`` with its default and descriptor, validated.

    :raises rclpy.exceptions.ParameterException: naming the parameter when a value from the
        overrides (parameter file, command line) is invalid.
    """
    node.add_on_set_parameters_callback(check)
    node.declare_parameters('', [(s.name, s.default, s.descriptor()) for s in PARAMETERS])


def values(node):
    """Return the current values of every parameter as a dict."""
    return {spec.name: node.get_parameter(spec.name).value for spec in PARAMETERS}
