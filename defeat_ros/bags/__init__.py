"""rosbag2 files without ROS: open (with salvage), discover topics, write atomically."""
