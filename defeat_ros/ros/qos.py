"""QoS profiles named by strings, as parameters name them (``SENSOR_DATA``, ``DEFAULT``, ...)."""

from rclpy.qos import QoSPresetProfiles

QOS_NAMES = tuple(name for name in QoSPresetProfiles.__members__ if name != 'UNKNOWN')
"""rclpy's preset profiles: SENSOR_DATA (best effort, keep last 5), DEFAULT (reliable, 10)..."""


def qos_profile(name, parameter='qos'):
    """
    Return the rclpy QoSProfile preset called ``name``.

    :param parameter: the parameter that named it, for the error message.
    :raises ValueError: naming the parameter and the valid names for anything else.
    """
    if name not in QOS_NAMES:
        raise ValueError(f'parameter {parameter}: unknown QoS profile {name!r}; use one of '
                         f'{", ".join(QOS_NAMES)}')
    return QoSPresetProfiles[name].value
