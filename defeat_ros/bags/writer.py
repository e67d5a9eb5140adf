"""Write rosbag2 recordings: storages and the metadata version Humble and Jazzy both read."""

from rosbags.rosbag2 import StoragePlugin


STORAGES = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
"""rosbag2 storage plugins by their ``ros2 bag`` names."""


BAG_VERSION = 8
"""rosbag2 metadata version (rosbags writes 8 or 9; Humble cannot parse version 9's QoS)."""
