"""
Run the DeFeat-Net node on one camera: depth, dense features, odometry and points.

    ros2 launch defeat_ros depth.launch.py namespace:=camera image:=image_raw rviz:=true

The node's topics are relative, so they land in the camera namespace; ``image`` and
``camera_info`` are remapped to the camera driver's topic names. With ``camera_tf:=true`` (the
default) a static transform places the camera's optical frame (``camera_frame``: the
frame_id of its images) on the vehicle (``base_frame``) at ``camera_x/y/z`` metres, looking
forward along base_frame's x axis, so RViz can show points and odometry in one fixed frame.
Switch it off when the robot description (robot_state_publisher) already provides it.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.actions import OpaqueFunction
from launch.conditions import evaluate_condition_expression
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

PACKAGE = 'defeat_ros'
OPTICAL_IN_BASE = ('-0.5', '0.5', '-0.5', '0.5')
"""Quaternion (x, y, z, w) of an optical frame (z forward, x right, y down) in REP-103 body
axes (x forward, y left, z up): the camera looks along the vehicle's x axis."""


def _defeat_node(context):
    """Create the node; model, backend, image_transport override the params file if given."""
    overrides = {
        'use_sim_time': evaluate_condition_expression(
            context, [LaunchConfiguration('use_sim_time')]),
        'base_frame': LaunchConfiguration('base_frame').perform(context),
        'camera_height': float(LaunchConfiguration('camera_z').perform(context)),
    }
    for name in ('model', 'backend', 'image_transport'):
        value = LaunchConfiguration(name).perform(context)
        if value:
            overrides[name] = ParameterValue(value, value_type=str)
    return [
        Node(
            package=PACKAGE,
            executable='defeat_node',
            name='defeat',
            namespace=LaunchConfiguration('namespace'),
            parameters=[LaunchConfiguration('params_file'), overrides],
            remappings=[
                ('image', LaunchConfiguration('image')),
                ('camera_info', LaunchConfiguration('camera_info')),
            ],
            output='screen',
            emulate_tty=True,
        ),
    ]


def generate_launch_description():
    """Declare the arguments, the DeFeat-Net node and (with rviz:=true) RViz."""
    share = get_package_share_directory(PACKAGE)
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
            description='Model directory (config.json + *.safetensors); '
                        'empty keeps the value from params_file'),
        DeclareLaunchArgument(
            'backend', default_value='',
            description='Inference backend: auto, tensorrt, onnxruntime or pytorch; '
                        'empty keeps the value from params_file'),
        DeclareLaunchArgument(
            'image_transport', default_value='',
            description="Image subscription: raw (image) or compressed (image's /compressed "
                        'topic, common in bags); empty keeps the value from params_file'),
        DeclareLaunchArgument(
            'params_file', default_value=os.path.join(share, 'config', 'depth.yaml'),
            description='Node parameter YAML file'),
        DeclareLaunchArgument(
            'use_sim_time', default_value='false',
            description='Use /clock (true when playing back bags with --clock)'),
        DeclareLaunchArgument(
            'rviz', default_value='false',
            description='Also start RViz with config/defeat.rviz'),
        DeclareLaunchArgument(
            'camera_tf', default_value='true',
            description='Publish the static base_frame -> camera_frame transform below'),
        DeclareLaunchArgument(
            'base_frame', default_value='base_link',
            description="Vehicle frame (the node's base_frame parameter)"),
        DeclareLaunchArgument(
            'camera_frame', default_value='camera_optical',
            description='Optical frame of the camera (the frame_id of its images)'),
        DeclareLaunchArgument(
            'camera_x', default_value='0.0', description='Camera position ahead of base (m)'),
        DeclareLaunchArgument(
            'camera_y', default_value='0.0', description='Camera position left of base (m)'),
        DeclareLaunchArgument(
            'camera_z', default_value='1.65',
            description="Camera height above base (m); also the node's camera_height, which "
                        'scale_mode camera_height uses (base_link on the ground)'),
        OpaqueFunction(function=_defeat_node),
        Node(
            package='tf2_ros',
            executable='static_transform_publisher',
            name='camera_mount_tf',
            arguments=[
                '--x', LaunchConfiguration('camera_x'),
                '--y', LaunchConfiguration('camera_y'),
                '--z', LaunchConfiguration('camera_z'),
                '--qx', OPTICAL_IN_BASE[0], '--qy', OPTICAL_IN_BASE[1],
                '--qz', OPTICAL_IN_BASE[2], '--qw', OPTICAL_IN_BASE[3],
                '--frame-id', LaunchConfiguration('base_frame'),
                '--child-frame-id', LaunchConfiguration('camera_frame'),
            ],
            parameters=[{'use_sim_time': LaunchConfiguration('use_sim_time')}],
            condition=IfCondition(LaunchConfiguration('camera_tf')),
            output='screen',
        ),
        Node(
            package='rviz2',
            executable='rviz2',
            name='rviz2',
            arguments=['-d', os.path.join(share, 'config', 'defeat.rviz')],
            parameters=[{'use_sim_time': LaunchConfiguration('use_sim_time')}],
            condition=IfCondition(LaunchConfiguration('rviz')),
            output='screen',
        ),
    ])
