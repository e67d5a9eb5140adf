"""
The message types of the package (rosbags' ROS 2 Humble typestore) and header stamps.

Every message the package records or publishes is built from :data:`TYPESTORE` (these
definitions are identical in Jazzy), so the bytes a bag records and the bytes the node
publishes come from the same code. Stamps are integer nanoseconds since the epoch.
"""

import numpy as np
from rosbags.typesys import get_typestore, Stores


TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)
"""Message definitions of the recorded types (identical in Humble and Jazzy)."""


IMAGE = 'sensor_msgs/msg/Image'


COMPRESSED_IMAGE = 'sensor_msgs/msg/CompressedImage'


CAMERA_INFO = 'sensor_msgs/msg/CameraInfo'


ODOMETRY = 'nav_msgs/msg/Odometry'


TWIST_STAMPED = 'geometry_msgs/msg/TwistStamped'


TWIST_WITH_COVARIANCE_STAMPED = 'geometry_msgs/msg/TwistWithCovarianceStamped'


def msg(msgtype, **fields):
    """Build a message of ``msgtype`` from the typestore."""
    return TYPESTORE.types[msgtype](**fields)


def stamp_ns(start_time, stamps):
    """Integer nanoseconds of ``start_time + stamps`` (seconds), exact for large start times."""
    start_sec = int(np.floor(start_time))
    start_ns = start_sec * 10 ** 9 + round((start_time - start_sec) * 1e9)
    return [start_ns + round(stamp * 1e9) for stamp in stamps.tolist()]


def header(nanoseconds, frame_id):
    """Return a std_msgs/Header at ``nanoseconds`` since the epoch."""
    sec, nanosec = divmod(nanoseconds, 10 ** 9)
    return msg('std_msgs/msg/Header', frame_id=frame_id,
               stamp=msg('builtin_interfaces/msg/Time', sec=sec, nanosec=nanosec))


def stamp_to_ns(stamp):
    """Return the integer nanoseconds of a builtin_interfaces/Time."""
    return int(stamp.sec) * 10 ** 9 + int(stamp.nanosec)


def header_ns(message):
    """Return the header stamp of a message in integer nanoseconds."""
    return stamp_to_ns(message.header.stamp)
