"""ROS 2 front door: the DeFeat-Net node, message conversions and a rosbags-based bag player."""
