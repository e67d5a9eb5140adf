"""ROS messages without ROS: the typestore, message builders, one image decoder, stamps."""
