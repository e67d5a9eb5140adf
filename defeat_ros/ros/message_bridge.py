"""
Turn rosbags messages into rclpy messages, field by field, for any message type.

One generic converter serves the node (whose messages are built with rosbags, see
:mod:`defeat_ros.messages.builders`) and the bag player (which deserialises with rosbags). The
rclpy class of ``pkg/msg/Name`` is ``pkg.msg.Name`` from the installed Python interfaces;
numeric arrays are copied as bytes, never element by element.
"""

import array
import importlib

import numpy as np


def rclpy_class(msgtype):
    """
    Return the rclpy message class of a rosbags type name such as ``sensor_msgs/msg/Image``.

    :raises ImportError: when the interface package is not installed.
    """
    package, kind, name = msgtype.split('/')
    module = importlib.import_module(f'{package}.{kind}')
    try:
        return getattr(module, name)
    except AttributeError as error:
        raise ImportError(f'{package}.{kind} has no message {name}') from error


def to_rclpy(message):
    """Return the rclpy message equal to a rosbags message (recursively)."""
    cls = rclpy_class(message.__msgtype__)
    result = cls()
    for name in cls.get_fields_and_field_types():
        setattr(result, name, convert_value(getattr(message, name), getattr(result, name)))
    return result


def convert_value(value, default):
    """
    Convert one rosbags field value to what the rclpy field accepts.

    :param value: the rosbags value (message, numpy array, list, or scalar).
    :param default: the rclpy field's default value, which tells its Python type.
    """
    if hasattr(value, '__msgtype__'):
        return to_rclpy(value)
    if isinstance(value, np.ndarray):
        if isinstance(default, array.array):  # sequence<number>: array.array of the type code
            converted = array.array(default.typecode)
            converted.frombytes(np.ascontiguousarray(value, dtype=default.typecode).tobytes())
            return converted
        if isinstance(default, np.ndarray):  # fixed-size number[N]
            return np.asarray(value, dtype=default.dtype).reshape(default.shape).copy()
        return [convert_value(v, None) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [convert_value(v, None) for v in value]
    if isinstance(default, bytes) and isinstance(value, int):  # byte fields
        return bytes([value])
    if isinstance(default, (bool, int, float, str)):
        return type(default)(value)
    return value
