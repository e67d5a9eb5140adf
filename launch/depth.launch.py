"""
Run the DeFeat-Net node on one camera: depth, dense features, odometry and points.

    ros2 launch defeat_ros depth.launch.py namespace:=camera image:=image_raw rviz:=true

The node's topics are relative, so they land in the camera namespace; ``image`` and
``camera_info`` are remapped to the camera driver's topic names.
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


def _defeat_node(context):
    """Create the node; model, backend, image_transport override the params file if given."""
    overrides = {
        'use_sim_time': evaluate_condition_expression(
            context, [LaunchConfiguration('use_sim_time')]),
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
        OpaqueFunction(function=_defeat_node),
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
