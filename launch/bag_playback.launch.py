"""
Play a rosbag2 recording into the DeFeat-Net node on simulated time.

    ros2 launch defeat_ros bag_playback.launch.py bag:=drives/day/bag rate:=0.5 rviz:=true

``player:=defeat`` (the default) plays with the package's own rosbags-based ``bag_player``
node, which needs no rosbag2 installation and starts playing once the bag's camera stream has a
subscription, the DeFeat-Net node's, so no frame is lost while the node loads its model.
``player:=ros2`` runs ``ros2 bag play --clock`` instead, which cannot wait: give it a ``delay``
long enough for the node to start (about 5 s on a desktop, more the first time a TensorRT engine
is built). Either publishes /clock, and depth.launch.py is included with use_sim_time:=true and
every other argument of it passed on (those that set node parameters keep the params file's
values unless given). Bags written by ``defeat-ros synth`` match the defaults
(``/camera/image_raw``, ``/camera/camera_info``); add ``image_transport:=compressed`` for their
JPEG topic.
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
    """Start the chosen player with the bag, rate, loop, start offset and extra delay."""
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
    """Declare the arguments, the included depth.launch.py and the player."""
    share = get_package_share_directory(PACKAGE)
    keep = 'empty keeps the params file value'
    passed_on = ('namespace', 'image', 'camera_info', 'model', 'backend', 'image_transport',
                 'params_file', 'rviz', 'camera_tf', 'base_frame', 'camera_frame', 'camera_x',
                 'camera_y', 'camera_z', 'camera_roll', 'camera_pitch', 'camera_yaw',
                 'camera_height', 'scale_mode', 'speed_topic', 'autostart',
                 'large_images_profile')
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
        DeclareLaunchArgument('delay', default_value='0.0',
                              description='Extra wall seconds to wait before playing; '
                                          'player:=ros2 needs it (the node takes seconds to '
                                          'load its model), player:=defeat waits for the '
                                          "node's subscription by itself"),
        DeclareLaunchArgument('namespace', default_value='camera',
                              description='Camera namespace of the node'),
        DeclareLaunchArgument('image', default_value='image_raw',
                              description='Image topic in the bag, relative to the namespace'),
        DeclareLaunchArgument('camera_info', default_value='camera_info',
                              description='CameraInfo topic in the bag'),
        DeclareLaunchArgument('model', default_value='', description=f'Model directory; {keep}'),
        DeclareLaunchArgument('backend', default_value='',
                              description=f'Inference backend; {keep}'),
        DeclareLaunchArgument('image_transport', default_value='',
                              description=f'raw or compressed; {keep}'),
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config', 'depth.yaml'),
                              description='Node parameter YAML file'),
        DeclareLaunchArgument('rviz', default_value='false',
                              description='Also start RViz with config/defeat.rviz'),
        DeclareLaunchArgument('large_images_profile', default_value='true',
                              description='The Fast DDS profile for large images for the node '
                                          'and the player (depth.launch.py)'),
        DeclareLaunchArgument('autostart', default_value='',
                              description='Configure and activate the node on start; false '
                                          f'waits for a lifecycle manager; {keep}'),
        DeclareLaunchArgument('camera_tf', default_value='true',
                              description='Publish the static base_frame -> camera_frame '
                                          'transform of the camera mount (needs tf2_ros)'),
        DeclareLaunchArgument('base_frame', default_value='',
                              description=f'Vehicle frame of the odometry; {keep}'),
        DeclareLaunchArgument('camera_frame', default_value='camera_optical',
                              description='Optical frame of the camera (frame_id of its images)'),
        DeclareLaunchArgument('camera_x', default_value='',
                              description=f'Camera position ahead of base_frame (m); {keep}'),
        DeclareLaunchArgument('camera_y', default_value='',
                              description=f'Camera position left of base_frame (m); {keep}'),
        DeclareLaunchArgument('camera_z', default_value='',
                              description=f'Camera position above base_frame (m); {keep}'),
        DeclareLaunchArgument('camera_roll', default_value='',
                              description=f'Camera roll (rad); {keep}'),
        DeclareLaunchArgument('camera_pitch', default_value='',
                              description=f'Camera pitch (rad, positive looks down); {keep}'),
        DeclareLaunchArgument('camera_yaw', default_value='',
                              description=f'Camera yaw (rad, positive looks left); {keep}'),
        DeclareLaunchArgument('camera_height', default_value='',
                              description='Camera height above the ground (m) for scale_mode '
                                          f'camera_height; {keep}'),
        DeclareLaunchArgument('scale_mode', default_value='',
                              description='model, camera_height or speed (the speed on '
                                          f'speed_topic, e.g. the wheel odometry in the bag); '
                                          f'{keep}'),
        DeclareLaunchArgument('speed_topic', default_value='',
                              description=f"The vehicle's speed topic; {keep}"),
        # depth.launch.py first: its checks (camera_tf needs tf2_ros, rviz needs rviz2) stop
        # the launch before anything, the player included, has started.
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, 'launch', 'depth.launch.py')),
            launch_arguments=[('use_sim_time', 'true')] + [
                (name, LaunchConfiguration(name)) for name in passed_on],
        ),
        OpaqueFunction(function=_player),
    ])
