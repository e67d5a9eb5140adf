"""
Static checks of the launch files: they must load under `ros2 launch` on any ROS 2 install.

The files are parsed, not imported: `launch` and `launch_ros` are not on PyPI, so these
checks hold without a ROS installation.
"""

import ast
from pathlib import Path
import re
import sys

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((REPO / 'launch').rglob('*.launch.py'))
ALLOWED_PACKAGES = {'launch', 'launch_ros', 'ament_index_python'}
# A string constant that looks like a config file name: no spaces, a config suffix.
CONFIG_FILE = re.compile(r'[\w./-]+\.(yaml|yml|rviz)')


def parse(path):
    return ast.parse(path.read_text(), filename=str(path))


def imported_modules(tree):
    """Yield (line, module) for each import; relative imports yield a leading dot."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, '.' * node.level + (node.module or '')


def string_constants(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value


def calls_to(tree, name):
    """Find the calls of a function or class by its name (`Node(...)`, `x.Node(...)`)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, 'attr', None)
            if called == name:
                yield node


def keyword_constants(call):
    return {k.arg: k.value.value for k in call.keywords if isinstance(k.value, ast.Constant)}


def node_key_matches(key, node_fqn):
    """Whether a params-file node key applies to node_fqn, by rclpy's rule (`/*`, `/**`)."""
    key = key if key.startswith('/') else '/' + key
    return re.fullmatch(key.replace('/*', r'(/\w+)'), node_fqn) is not None


def test_there_are_launch_files():
    assert REPO / 'launch' / 'depth.launch.py' in LAUNCH_FILES


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_parses_and_defines_description(path):
    tree = parse(path)
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert 'generate_launch_description' in functions


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_imports_only_launch_apis(path):
    bad = [
        '%s:%d imports %s' % (path.name, line, module)
        for line, module in imported_modules(parse(path))
        if module.startswith('.') or (
            module.split('.')[0] not in ALLOWED_PACKAGES
            and module.split('.')[0] not in sys.stdlib_module_names)]
    assert not bad, 'launch files may import only %s and the standard library: %s' % (
        sorted(ALLOWED_PACKAGES), bad)


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_referenced_config_files_exist(path):
    referenced = [s for s in string_constants(parse(path)) if CONFIG_FILE.fullmatch(s)]
    assert referenced or path.name != 'depth.launch.py', 'depth.launch.py names no params file'
    missing = [s for s in referenced
               if not (REPO / 'config' / s).is_file()
               and not (s.startswith('config/') and (REPO / s).is_file())]
    assert not missing, '%s references files missing from config/: %s' % (path.name, missing)


def test_depth_launch_contract():
    """The arguments and the node that users script against (see DESIGN.md)."""
    tree = parse(REPO / 'launch' / 'depth.launch.py')
    arguments = {c.args[0].value for c in calls_to(tree, 'DeclareLaunchArgument')
                 if c.args and isinstance(c.args[0], ast.Constant)}
    assert {'namespace', 'image', 'camera_info', 'model', 'backend', 'params_file',
            'use_sim_time', 'rviz'} <= arguments
    nodes = [keyword_constants(c) for c in calls_to(tree, 'Node')]
    defeat_nodes = [n for n in nodes if n.get('executable') == 'defeat_node']
    assert defeat_nodes, "no Node(executable='defeat_node')"
    assert all(n.get('name') == 'defeat' for n in defeat_nodes)
    remapped = {e.elts[0].value for c in calls_to(tree, 'Node') for k in c.keywords
                if k.arg == 'remappings' for e in k.value.elts}
    assert remapped == {'image', 'camera_info'}


def test_depth_params_file_targets_the_node():
    """A node key that misses the namespaced node silently drops every parameter."""
    params = yaml.safe_load((REPO / 'config' / 'depth.yaml').read_text())
    assert params, 'config/depth.yaml is empty'
    for key, block in params.items():
        assert node_key_matches(key, '/camera/defeat'), key
        assert node_key_matches(key, '/defeat'), key
        assert isinstance(block.get('ros__parameters'), dict), key
