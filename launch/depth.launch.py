"""
Run the DeFeat-Net node on one camera: depth, dense features, odometry and points.

    ros2 launch defeat_ros depth.launch.py namespace:=camera image:=image_raw rviz:=true

The node's topics are relative, so they land in the camera namespace; ``image`` and
``camera_info`` are remapped to the camera driver's topic names.

The node's parameters come from ``params_file``. A launch argument that maps to a node
parameter (``model``, ``backend``, ``image_transport``, ``use_sim_time``, ``autostart``,
``base_frame``, ``scale_mode``, ``camera_height``, ``speed_topic`` and the camera mount
``camera_x/y/z/roll/pitch/yaw``)
defaults to '' and then keeps the params file's value; given on the command line, it overrides
it.

With ``camera_tf:=true`` (the default) a static transform places the camera's optical frame
(``camera_frame``: the frame_id of its images) on the vehicle (``base_frame``) with the mount
the node uses to report base_frame odometry: each value is the launch argument if given, else
the params file's value for the node, else config/depth.yaml's. Switch it off when the robot
description (robot_state_publisher) already provides the transform. camera_tf needs tf2_ros
and rviz:=true needs rviz2: a missing one stops the launch before anything starts.

With ``large_images_profile:=true`` (the default) the processes this launch starts get the
package's Fast DDS profile for large images (bigger shared-memory segment and socket buffers,
default transports kept, so they still talk to processes without it), unless
FASTDDS_DEFAULT_PROFILES_FILE is already set. It never sets FASTDDS_BUILTIN_TRANSPORTS:
LARGE_DATA in some processes of a graph and not in others cuts them apart.
"""

import math
import os
import re

from ament_index_python.packages import get_package_prefix
from ament_index_python.packages import get_package_share_directory
from ament_index_python.packages import PackageNotFoundError
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.actions import OpaqueFunction
from launch.actions import SetEnvironmentVariable
from launch.conditions import evaluate_condition_expression
from launch.conditions import IfCondition
from launch.substitutions import EnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
import yaml

PACKAGE = 'defeat_ros'
NODE_NAME = 'defeat'
OPTICAL_IN_BODY = (-0.5, 0.5, -0.5, 0.5)
"""Quaternion (x, y, z, w) of an optical frame (z forward, x right, y down) in REP-103 body
axes (x forward, y left, z up): a camera looking along its body's x axis."""
MOUNT = ('camera_x', 'camera_y', 'camera_z', 'camera_roll', 'camera_pitch', 'camera_yaw')
"""The node's camera mount parameters: position (m) and roll, pitch, yaw (rad) in base_frame."""
NUMBERS = MOUNT + ('camera_height',)
"""Launch arguments given to the node as floating-point parameters."""
STRINGS = ('model', 'backend', 'image_transport', 'base_frame', 'scale_mode', 'speed_topic')
"""Launch arguments given to the node as string parameters."""
BOOLEANS = ('use_sim_time', 'autostart')
"""Launch arguments given to the node as boolean parameters."""
PROFILES_VARIABLE = 'FASTDDS_DEFAULT_PROFILES_FILE'
"""Fast DDS reads its XML profiles from this file; a user's own setting is kept."""
FALLBACK = {'use_sim_time': False}
"""Values of parameters config/depth.yaml does not set (the node's defaults)."""


def node_key_matches(key, node_fqn):
    """Whether a params file's node key (``/**/defeat``, ``/camera/defeat``...) applies, as rcl."""
    key = key if key.startswith('/') else '/' + key
    pattern = re.escape(key).replace(r'/\*\*', r'(/\w+)*').replace(r'/\*', r'/\w+')
    return re.fullmatch(pattern, node_fqn) is not None


def params_file_values(path, node_fqn):
    """Return the parameters a params file sets for the node ``node_fqn`` (later keys win)."""
    try:
        with open(path) as stream:
            content = yaml.safe_load(stream) or {}
    except (OSError, yaml.YAMLError) as error:
        raise RuntimeError(f'params_file {path} cannot be read: {error}') from error
    values = {}
    for key, block in content.items() if isinstance(content, dict) else ():
        if isinstance(block, dict) and node_key_matches(str(key), node_fqn):
            values.update(block.get('ros__parameters') or {})
    return values


def mount_quaternion(roll, pitch, yaw):
    """
    Return (x, y, z, w) of the optical frame in base_frame: ``R_rpy(roll, pitch, yaw) @ R_opt``.

    R_rpy turns base_frame's axes into the camera body's (fixed axes, Rz(yaw) Ry(pitch)
    Rx(roll): tf2's setRPY); R_opt is :data:`OPTICAL_IN_BODY`.
    """
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    x1, y1 = sr * cp * cy - cr * sp * sy, cr * sp * cy + sr * cp * sy
    z1, w1 = cr * cp * sy - sr * sp * cy, cr * cp * cy + sr * sp * sy
    x2, y2, z2, w2 = OPTICAL_IN_BODY
    quaternion = (w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                  w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
                  w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
                  w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2)
    sign = -1.0 if quaternion[3] < 0 else 1.0
    return tuple(sign * value for value in quaternion)


def require_package(package, argument):
    """Stop the launch, naming the switch, when ``package`` is not installed."""
    try:
        get_package_prefix(package)
    except PackageNotFoundError:
        raise RuntimeError(f'{argument}:=true needs the ROS 2 package {package}, which is not '
                           f'installed: install it or launch with {argument}:=false') from None


def number(name, value, source):
    """Return ``value`` as a float; a clear error naming ``source`` when it is none."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise RuntimeError(f'{name}: {value!r} from {source} is not a number') from None


def node_namespace(context):
    """Return the node's namespace as launch_ros makes it ('' for the root)."""
    namespace = LaunchConfiguration('namespace').perform(context)
    if not namespace.startswith('/'):  # relative: inside any PushRosNamespace
        base = context.launch_configurations.get('ros_namespace', '') or ''
        namespace = f'{base.rstrip("/")}/{namespace}'
    return '/'.join(part for part in namespace.split('/') if part)


def resolve(context, share):
    """
    Return (the node's overrides, every value the node uses) of the launch arguments.

    Overrides hold the arguments given (non-empty); the values are the argument if given, else
    the params file's value for the node, else config/depth.yaml's.
    """
    namespace = node_namespace(context)
    node_fqn = f'/{namespace}/{NODE_NAME}' if namespace else f'/{NODE_NAME}'
    params_file = LaunchConfiguration('params_file').perform(context)
    shipped = os.path.join(share, 'config', 'depth.yaml')
    values = {**FALLBACK, **params_file_values(shipped, node_fqn),
              **params_file_values(params_file, node_fqn)}
    overrides = {}
    for name in BOOLEANS + STRINGS + NUMBERS:
        given = LaunchConfiguration(name).perform(context)
        if not given:
            continue
        if name in BOOLEANS:
            values[name] = evaluate_condition_expression(context, [LaunchConfiguration(name)])
        elif name in NUMBERS:
            values[name] = number(name, given, 'the command line')
        else:
            values[name] = given
        overrides[name] = ParameterValue(given, value_type=str) if name in STRINGS else \
            values[name]
    missing = [name for name in ('base_frame',) + MOUNT if name not in values]
    if missing:
        raise RuntimeError(f'{", ".join(missing)}: neither a launch argument nor in '
                           f'{params_file} or {shipped}')
    for name in MOUNT:
        values[name] = number(name, values[name], params_file)
    return overrides, values


def _launch_setup(context):
    """Check what camera_tf and rviz need, then create the node, the transform and RViz."""
    share = get_package_share_directory(PACKAGE)
    camera_tf = evaluate_condition_expression(context, [LaunchConfiguration('camera_tf')])
    rviz = evaluate_condition_expression(context, [LaunchConfiguration('rviz')])
    if camera_tf:
        require_package('tf2_ros', 'camera_tf')
    if rviz:
        require_package('rviz2', 'rviz')
    overrides, values = resolve(context, share)
    sim_time = {'use_sim_time': bool(values['use_sim_time'])}
    actions = [
        Node(
            package=PACKAGE,
            executable='defeat_node',
            name='defeat',
            namespace=LaunchConfiguration('namespace'),
            parameters=[LaunchConfiguration('params_file')] + ([overrides] if overrides else []),
            remappings=[
                ('image', LaunchConfiguration('image')),
                ('camera_info', LaunchConfiguration('camera_info')),
            ],
            output='screen',
            emulate_tty=True,
        ),
    ]
    if camera_tf:
        quaternion = mount_quaternion(values['camera_roll'], values['camera_pitch'],
                                      values['camera_yaw'])
        arguments = []
        for flag, value in zip(('--x', '--y', '--z', '--qx', '--qy', '--qz', '--qw'),
                               (values['camera_x'], values['camera_y'], values['camera_z'])
                               + quaternion):
            arguments += [flag, '%.12g' % value]
        actions.append(Node(
            package='tf2_ros',
            executable='static_transform_publisher',
            name='camera_mount_tf',
            arguments=arguments + [
                '--frame-id', str(values['base_frame']),
                '--child-frame-id', LaunchConfiguration('camera_frame'),
            ],
            parameters=[sim_time],
            output='screen',
        ))
    if rviz:
        actions.append(Node(
            package='rviz2',
            executable='rviz2',
            name='rviz2',
            arguments=['-d', os.path.join(share, 'config', 'defeat.rviz')],
            parameters=[sim_time],
            output='screen',
        ))
    return actions


def generate_launch_description():
    """Declare the arguments; the node, the camera transform and RViz come from _launch_setup."""
    share = get_package_share_directory(PACKAGE)
    keep = 'empty keeps the value from params_file'
    return LaunchDescription([
        DeclareLaunchArgument(
            'namespace', default_value='camera',
            description='Camera namespace; the node and its relative topics live in it'),
        DeclareLaunchArgument(
            'image', default_value='image_raw',
            description='Input image topic (relative names resolve inside the namespace)'),
        DeclareLaunchArgument(
            'camera_info', default_value='camera_info',
            description='CameraInfo topic matching the image'),
        DeclareLaunchArgument(
            'model', default_value='',
            description=f'Model directory (config.json + *.safetensors); {keep}'),
        DeclareLaunchArgument(
            'backend', default_value='',
            description='Inference backend: auto, tensorrt, onnxruntime, openvino or pytorch; '
                        f'{keep}'),
        DeclareLaunchArgument(
            'image_transport', default_value='',
            description="Image subscription: raw (image) or compressed (image's /compressed "
                        f'topic, common in bags); {keep}'),
        DeclareLaunchArgument(
            'params_file', default_value=os.path.join(share, 'config', 'depth.yaml'),
            description='Node parameter YAML file'),
        DeclareLaunchArgument(
            'use_sim_time', default_value='',
            description=f'Use /clock (true when playing back bags with --clock); {keep} '
                        '(default false)'),
        DeclareLaunchArgument(
            'autostart', default_value='',
            description='Configure and activate the node on start; false leaves it '
                        f'unconfigured for a lifecycle manager; {keep} (default true)'),
        DeclareLaunchArgument(
            'rviz', default_value='false',
            description='Also start RViz with config/defeat.rviz (needs rviz2)'),
        DeclareLaunchArgument(
            'camera_tf', default_value='true',
            description='Publish the static base_frame -> camera_frame transform of the '
                        'camera mount (needs tf2_ros)'),
        DeclareLaunchArgument(
            'base_frame', default_value='',
            description=f"Vehicle frame (the node's base_frame parameter); {keep}"),
        DeclareLaunchArgument(
            'camera_frame', default_value='camera_optical',
            description='Optical frame of the camera (the frame_id of its images)'),
        DeclareLaunchArgument(
            'camera_x', default_value='',
            description=f'Camera position ahead of base_frame (m); {keep}'),
        DeclareLaunchArgument(
            'camera_y', default_value='',
            description=f'Camera position left of base_frame (m); {keep}'),
        DeclareLaunchArgument(
            'camera_z', default_value='',
            description=f'Camera position above base_frame (m); {keep}'),
        DeclareLaunchArgument(
            'camera_roll', default_value='',
            description=f"Camera roll about base_frame's x axis (rad); {keep}"),
        DeclareLaunchArgument(
            'camera_pitch', default_value='',
            description=f"Camera pitch about base_frame's y axis (rad, positive looks down); "
                        f'{keep}'),
        DeclareLaunchArgument(
            'camera_yaw', default_value='',
            description=f"Camera yaw about base_frame's z axis (rad, positive looks left); "
                        f'{keep}'),
        DeclareLaunchArgument(
            'camera_height', default_value='',
            description='Camera height above the ground (m) for scale_mode camera_height; '
                        f'{keep}'),
        DeclareLaunchArgument(
            'scale_mode', default_value='',
            description='Where metric scale comes from: model, camera_height or speed (the '
                        f"vehicle's speed on speed_topic); {keep}"),
        DeclareLaunchArgument(
            'speed_topic', default_value='',
            description="The vehicle's speed (wheel odometry, CAN, INS; the node's speed_type "
                        f'says which message), for scale_mode speed; {keep}'),
        DeclareLaunchArgument(
            'large_images_profile', default_value='true',
            description='Give the processes of this launch the Fast DDS profile for large images '
                        '(config/fastdds_large_images.xml) unless FASTDDS_DEFAULT_PROFILES_FILE '
                        'is set; it mixes with processes without it (docs/ros.md)'),
        SetEnvironmentVariable(
            PROFILES_VARIABLE,
            EnvironmentVariable(PROFILES_VARIABLE, default_value=os.path.join(
                share, 'config', 'fastdds_large_images.xml')),
            condition=IfCondition(LaunchConfiguration('large_images_profile'))),
        OpaqueFunction(function=_launch_setup),
    ])
