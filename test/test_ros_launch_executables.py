"""
Static checks that the launch files can start what they name (launch itself is not on PyPI).

Every ``Node(package='defeat_ros', executable=...)`` must be a console script of setup.py whose
entry point imports; every launch file a launch file includes must exist; bag_playback.launch.py
offers the arguments the README documents. test_launch_files.py checks the imports (launch,
launch_ros and the standard library only) and the parameter files.
"""

import ast
import importlib
from pathlib import Path

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
    source = (REPO / 'launch' / 'bag_playback.launch.py').read_text()
    assert "('use_sim_time', 'true')" in source and "'--clock'" in source
    from defeat_ros.ros.bag_player import PARAMETERS
    passed = {key.value for call in ast.walk(tree) if isinstance(call, ast.Call)
              and getattr(call.func, 'id', None) == 'Node'
              for keyword in call.keywords if keyword.arg == 'parameters'
              for mapping in keyword.value.elts for key in mapping.keys}
    assert passed == {'bag', 'rate', 'loop', 'start_offset', 'delay'}
    assert passed <= {name for name, _, _ in PARAMETERS}  # the player declares each one
