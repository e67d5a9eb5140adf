"""
Static checks that the launch files can start what they name (launch itself is not on PyPI).

Every ``Node(package='defeat_ros', executable=...)`` must be a console script of setup.py whose
entry point imports; every launch file a launch file includes must exist; bag_playback.launch.py
offers the arguments the README documents, and run on stand-ins for the launch APIs, it starts
a player that publishes /clock and the node on simulated time. test_launch_files.py checks the
imports (launch, launch_ros and the standard library only) and the parameter files.
"""

import ast
import importlib
import importlib.util
from pathlib import Path
import sys
import types

import pytest

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((REPO / 'launch').rglob('*.launch.py'))
PACKAGE = 'defeat_ros'


def console_scripts():
    """Return {name: 'module:function'} from setup.py's console_scripts, parsed, not run."""
    tree = ast.parse((REPO / 'setup.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == 'console_scripts':
                    entries = [e.value for e in value.elts]
                    return dict(tuple(p.strip() for p in e.split('=')) for e in entries)
    raise AssertionError('setup.py declares no console_scripts')


def module_constants(tree):
    """Return the module-level NAME = 'string' assignments of a launch file."""
    return {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)
            and isinstance(node.value, ast.Constant)}


def keyword_value(call, name, constants):
    """Return a keyword argument's value when it is a constant or a module constant."""
    for keyword in call.keywords:
        if keyword.arg == name:
            if isinstance(keyword.value, ast.Constant):
                return keyword.value.value
            if isinstance(keyword.value, ast.Name):
                return constants.get(keyword.value.id)
    return None


def package_nodes(path):
    """Return the executables of this package that a launch file starts with Node(...)."""
    tree = ast.parse(path.read_text())
    constants = module_constants(tree)
    executables = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == 'Node':
            if keyword_value(node, 'package', constants) == PACKAGE:
                executables.append(keyword_value(node, 'executable', constants))
    return executables


def test_launch_files_start_the_node_and_the_player():
    started = {e for path in LAUNCH_FILES for e in package_nodes(path)}
    assert {'defeat_node', 'bag_player'} <= started


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_every_executable_is_a_console_script_that_imports(path):
    scripts = console_scripts()
    for executable in package_nodes(path):
        assert executable in scripts, f'{path.name} starts {executable!r}, not in setup.py'
        module, function = scripts[executable].split(':')
        assert callable(getattr(importlib.import_module(module), function))


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_included_launch_files_exist(path):
    names = [n.value for n in ast.walk(ast.parse(path.read_text()))
             if isinstance(n, ast.Constant) and isinstance(n.value, str)
             and n.value.endswith('.launch.py')]
    missing = [n for n in names if not (REPO / 'launch' / n).is_file()]
    assert not missing


def test_bag_playback_arguments():
    tree = ast.parse((REPO / 'launch' / 'bag_playback.launch.py').read_text())
    declared = {c.args[0].value for c in ast.walk(tree) if isinstance(c, ast.Call)
                and getattr(c.func, 'id', None) == 'DeclareLaunchArgument'}
    assert {'bag', 'player', 'rate', 'loop', 'start_offset', 'delay', 'namespace', 'image',
            'camera_info', 'model', 'backend', 'image_transport', 'rviz'} <= declared
    from defeat_ros.ros.bag_player import PlayerConfig
    from defeat_ros.typed_config import options
    passed = {key.value for call in ast.walk(tree) if isinstance(call, ast.Call)
              and getattr(call.func, 'id', None) == 'Node'
              for keyword in call.keywords if keyword.arg == 'parameters'
              for mapping in keyword.value.elts for key in mapping.keys}
    assert passed == {'bag', 'rate', 'loop', 'start_offset', 'delay'}
    assert passed <= {item.name for item in options(PlayerConfig)}  # the player declares them


class Recorded:
    """Stand-in for a launch or launch_ros class: keeps its arguments."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class Configuration:
    """Stand-in for LaunchConfiguration: performs to the context's value of the argument."""

    def __init__(self, name):
        self.name = name

    def perform(self, context):
        return context[self.name]


def stand_in_modules():
    """Modules with the launch APIs bag_playback.launch.py uses, recording what it builds."""
    names = {'ament_index_python': {}, 'launch': {'LaunchDescription': Recorded},
             'ament_index_python.packages': {
                 'get_package_share_directory': lambda package: f'/share/{package}'},
             'launch.actions': dict.fromkeys(('DeclareLaunchArgument', 'ExecuteProcess',
                                              'IncludeLaunchDescription', 'OpaqueFunction'),
                                             Recorded),
             'launch.conditions': {'evaluate_condition_expression': lambda context, expression:
                                   expression[0].perform(context).lower() in ('true', '1')},
             'launch.launch_description_sources': {'PythonLaunchDescriptionSource': Recorded},
             'launch.substitutions': {'LaunchConfiguration': Configuration},
             'launch_ros': {}, 'launch_ros.actions': {'Node': Recorded}}
    modules = {}
    for name, attributes in names.items():
        modules[name] = types.ModuleType(name)
        vars(modules[name]).update(attributes)
    return modules


@pytest.mark.parametrize('player', ['ros2', 'defeat'])
def test_bag_playback_publishes_the_clock_and_runs_the_node_on_it(monkeypatch, player):
    """Run the launch file on stand-ins: either player publishes /clock, the node follows it."""
    for name, module in stand_in_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location(
        'bag_playback_launch', REPO / 'launch' / 'bag_playback.launch.py')
    launch_file = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch_file)
    actions = launch_file.generate_launch_description().args[0]
    (include,) = [a for a in actions if 'launch_arguments' in a.kwargs]
    assert include.args[0].args == ('/share/defeat_ros/launch/depth.launch.py',)
    assert ('use_sim_time', 'true') in include.kwargs['launch_arguments']
    (opaque,) = [a for a in actions if 'function' in a.kwargs]
    context = {'player': player, 'bag': 'drives/day', 'rate': '0.5', 'start_offset': '3',
               'delay': '2.0', 'loop': 'true'}
    (started,) = opaque.kwargs['function'](context)
    if player == 'ros2':
        assert started.kwargs['cmd'] == [
            'ros2', 'bag', 'play', 'drives/day', '--clock', '--rate', '0.5',
            '--start-offset', '3.0', '--delay', '2.0', '--loop']
    else:  # clock is left at the player's default, true: it publishes /clock
        assert started.kwargs['executable'] == 'bag_player'
        assert started.kwargs['parameters'] == [{'bag': 'drives/day', 'rate': 0.5, 'loop': True,
                                                 'start_offset': 3.0, 'delay': 2.0}]
