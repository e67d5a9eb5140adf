"""
The DeFeat-Net node's parameters: names, typed defaults, descriptors and validation.

:class:`~defeat_ros.ros.node_config.NodeConfig` is the single source (``config/depth.yaml`` and
the README table are generated from it). Ranges go into the descriptors, where rclpy enforces
them; choices and patterns are checked by :func:`check`, which the node registers as
its on-set-parameters callback before declaring, so the same rules apply to values from
parameter files, the command line and run-time ``set_parameters`` calls. Read-only parameters
are loaded once at start-up (the model, its backend and the connections); rclpy rejects setting
them at run time with 'Trying to set a read-only parameter'.
"""

from defeat_ros.ros.node_config import NodeConfig
from defeat_ros.typed_config import options
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rcl_interfaces.msg import SetParametersResult

RESTART = ' (read-only: restart the node to change it)'


def descriptor(item):
    """Return the ParameterDescriptor of an :class:`~defeat_ros.typed_config.Option`."""
    descriptor = ParameterDescriptor(
        description=item.doc + (RESTART if item.read_only else ''),
        additional_constraints='' if item.minimum is not None else item.constraints(),
        read_only=item.read_only)
    if item.minimum is not None and isinstance(item.default, int):
        descriptor.integer_range = [
            IntegerRange(from_value=item.minimum, to_value=item.maximum, step=1)]
    elif item.minimum is not None:
        descriptor.floating_point_range = [
            FloatingPointRange(from_value=item.minimum, to_value=item.maximum, step=0.0)]
    return descriptor


PARAMETERS = options(NodeConfig)
"""Every parameter of the node, in the order of config/depth.yaml."""

SPECS = {spec.name: spec for spec in PARAMETERS}


def check(parameters, specs=None):
    """Validate rclpy Parameters against ``specs`` (name -> Option; default the node's)."""
    specs = SPECS if specs is None else specs
    for parameter in parameters:
        spec = specs.get(parameter.name)
        problem = spec.problem(parameter.value) if spec else ''
        if problem:
            return SetParametersResult(successful=False, reason=f'parameter {problem}')
    return SetParametersResult(successful=True)


def declare(node, config_class=NodeConfig):
    """
    Declare every option of ``config_class`` on ``node`` with its default and descriptor.

    Values are validated (choices and patterns by :func:`check`, ranges by rclpy) whether they
    come from a parameter file, the command line or a run-time ``set_parameters`` call.

    :raises rclpy.exceptions.ParameterException: naming the parameter when a value from the
        overrides (parameter file, command line) is invalid.
    """
    specs = {spec.name: spec for spec in options(config_class)}
    node.add_on_set_parameters_callback(lambda parameters: check(parameters, specs))
    node.declare_parameters('', [(s.name, s.default, descriptor(s)) for s in specs.values()])


def values(node, config_class=NodeConfig):
    """Return the current values of the options of ``config_class`` as a dict."""
    return {spec.name: node.get_parameter(spec.name).value for spec in options(config_class)}
