"""
Play a rosbag2 recording into the DeFeat-Net node on simulated time.

    ros2 launch defeat_ros bag_playback.launch.py bag:=drives/day/bag rate:=0.5 rviz:=true

``player:=defeat`` (the default) plays with the package's own rosbags-based ``bag_player``
node, which needs no rosbag2 installation; ``player:=ros2`` runs ``ros2 bag play --clock``
instead. Either publishes /clock, and depth.launch.py is included with use_sim_time:=true.
Bags written by ``defeat-ros synth`` match the defaults (``/camera/image_raw``,
``/camera/camera_info``); add ``image_transport:=compressed`` for their JPEG topic.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.actions import ExecuteProcess
from launch.actions import IncludeLaunchDescription
from launch.actions import OpaqueFunction
from launch.conditions import evaluate_condition_expression
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = 'defeat_ros'
PLAYERS = ('defeat', 'ros2')


def _player(context):
    """Start the chosen player with the bag, rate, loop, start offset and delay."""
    player = LaunchConfiguration('player').perform(context)
    bag = LaunchConfiguration('bag').perform(context)
    rate = float(LaunchConfiguration('rate').perform(context))
    offset = float(LaunchConfiguration('start_offset').perform(context))
    delay = float(LaunchConfiguration('delay').perform(context))
    loop = evaluate_condition_expression(context, [LaunchConfiguration('loop')])
    if player not in PLAYERS:
        raise ValueError(f'player must be one of {PLAYERS}, got {player!r}')
    if not bag:
        raise ValueError('bag:=<rosbag2 directory> is required')
    if player == 'ros2':
        command = ['ros2', 'bag', 'play', bag, '--clock', '--rate', str(rate),
                   '--start-offset', str(offset), '--delay', str(delay)] + (
                       ['--loop'] if loop else [])
        return [ExecuteProcess(cmd=command, output='screen')]
    return [
        Node(
            package=PACKAGE,
            executable='bag_player',
            name='bag_player',
            parameters=[{'bag': bag, 'rate': rate, 'loop': loop, 'start_offset': offset,
                         'delay': delay}],
            output='screen',
            emulate_tty=True,
        ),
    ]


def generate_launch_description():
    """Declare the arguments, the player and the included depth.launch.py."""
    share = get_package_share_directory(PACKAGE)
    passed_on = ('namespace', 'image', 'camera_info', 'model', 'backend', 'image_transport',
                 'rviz')
    return LaunchDescription([
        DeclareLaunchArgument('bag', description='rosbag2 directory to play'),
        DeclareLaunchArgument(
            'player', default_value='defeat', choices=list(PLAYERS),
            description="defeat: the package's bag_player node (no rosbag2 needed); "
                        'ros2: ros2 bag play --clock'),
        DeclareLaunchArgument('rate', default_value='1.0', description='Playback speed factor'),
        DeclareLaunchArgument('loop', default_value='false',
                              description='Start over at the end of the bag'),
        DeclareLaunchArgument('start_offset', default_value='0.0',
                              description='Seconds into the bag to start at'),
        DeclareLaunchArgument('delay', default_value='2.0',
                              description='Wall seconds to wait before playing, so that the '
                                          'node has loaded its model and subscribed'),
        DeclareLaunchArgument('namespace', default_value='camera',
                              description='Camera namespace of the node'),
        DeclareLaunchArgument('image', default_value='image_raw',
                              description='Image topic in the bag, relative to the namespace'),
        DeclareLaunchArgument('camera_info', default_value='camera_info',
                              description='CameraInfo topic in the bag'),
        DeclareLaunchArgument('model', default_value='',
                              description='Model directory; empty keeps the params file value'),
        DeclareLaunchArgument('backend', default_value='',
                              description='Inference backend; empty keeps the params file value'),
        DeclareLaunchArgument('image_transport', default_value='',
                              description='raw or compressed; empty keeps the params file value'),
        DeclareLaunchArgument('rviz', default_value='false',
                              description='Also start RViz with config/defeat.rviz'),
        OpaqueFunction(function=_player),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, 'launch', 'depth.launch.py')),
            launch_arguments=[('use_sim_time', 'true')] + [
                (name, LaunchConfiguration(name)) for name in passed_on],
        ),
    ])
