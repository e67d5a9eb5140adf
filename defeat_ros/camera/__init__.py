"""ROS-free per-frame step: one camera frame in, every output message out."""
