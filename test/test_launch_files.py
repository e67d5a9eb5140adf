"""
Static checks of the launch files: they must load under `ros2 launch` on any ROS 2 install.

`launch` and `launch_ros` are not on PyPI, so the files are parsed, and run on stand-ins that
record what they build (the calls they make are those of the real APIs): these checks hold
without a ROS installation.
"""

import ast
import importlib.util
import math
from pathlib import Path
import re
import sys
import types

from defeat_ros.geometry import mount_pose, quaternion_to_matrix
import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((REPO / 'launch').rglob('*.launch.py'))
ALLOWED_PACKAGES = {'launch', 'launch_ros', 'ament_index_python', 'yaml'}
NODE_PARAMETER_ARGUMENTS = ('model', 'backend', 'image_transport', 'use_sim_time', 'base_frame',
                            'camera_x', 'camera_y', 'camera_z', 'camera_roll', 'camera_pitch',
                            'camera_yaw', 'camera_height', 'scale_mode', 'speed_topic')
"""depth.launch.py's arguments that set a node parameter: '' keeps the params file's value."""
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
    assert {'namespace', 'image', 'camera_info', 'params_file', 'rviz', 'camera_tf',
            'camera_frame', *NODE_PARAMETER_ARGUMENTS} <= arguments
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


def declared_defaults(tree):
    """Return {argument: default_value} of a launch file's DeclareLaunchArgument calls."""
    return {c.args[0].value: keyword_constants(c).get('default_value')
            for c in calls_to(tree, 'DeclareLaunchArgument')}


def test_arguments_that_set_node_parameters_keep_the_params_file_by_default():
    """A default of '' means 'not given': the params file's value stays."""
    defaults = declared_defaults(parse(REPO / 'launch' / 'depth.launch.py'))
    assert {name: defaults[name] for name in NODE_PARAMETER_ARGUMENTS} == dict.fromkeys(
        NODE_PARAMETER_ARGUMENTS, '')


class Recorded:
    """Stand-in for a launch or launch_ros class: keeps its arguments."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class Configuration:
    """Stand-in for LaunchConfiguration: performs to the context's value of the argument."""

    def __init__(self, name):
        self.name = name

    def perform(self, context):
        return context.launch_configurations[self.name]


class Context:
    """Stand-in for LaunchContext: the launch configurations (argument values)."""

    def __init__(self, configurations):
        self.launch_configurations = configurations


class PackageNotFoundError(KeyError):
    """Stand-in for ament_index_python's."""


def evaluate_condition_expression(context, expression):
    """Evaluate as launch does: 'true' or '1', 'false' or '0' (stripped, any case), or fail."""
    value = expression[0].perform(context).strip().lower()
    if value not in ('true', '1', 'false', '0'):
        raise ValueError(f'invalid condition expression {value!r}')
    return value in ('true', '1')


def load_launch_file(monkeypatch, name, installed):
    """Import a launch file on stand-ins; return it and the list its Node(...) calls fill."""
    nodes = []

    class Node(Recorded):

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            nodes.append(self)

    def get_package_prefix(package):
        if package not in installed:
            raise PackageNotFoundError(package)
        return f'/opt/ros/{package}'

    attributes = {
        'ament_index_python': {},
        'ament_index_python.packages': {
            'get_package_share_directory': lambda package: str(REPO),
            'get_package_prefix': get_package_prefix,
            'PackageNotFoundError': PackageNotFoundError},
        'launch': {'LaunchDescription': Recorded},
        'launch.actions': dict.fromkeys(('DeclareLaunchArgument', 'ExecuteProcess',
                                         'IncludeLaunchDescription', 'OpaqueFunction',
                                         'SetEnvironmentVariable'), Recorded),
        'launch.conditions': {'evaluate_condition_expression': evaluate_condition_expression,
                              'IfCondition': Recorded},
        'launch.launch_description_sources': {'PythonLaunchDescriptionSource': Recorded},
        'launch.substitutions': {'LaunchConfiguration': Configuration,
                                 'EnvironmentVariable': Recorded},
        'launch_ros': {}, 'launch_ros.actions': {'Node': Node},
        'launch_ros.parameter_descriptions': {'ParameterValue': Recorded}}
    for module_name, values in attributes.items():
        module = types.ModuleType(module_name)
        vars(module).update(values)
        monkeypatch.setitem(sys.modules, module_name, module)
    spec = importlib.util.spec_from_file_location(name.replace('.', '_'), REPO / 'launch' / name)
    launch_file = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch_file)
    return launch_file, nodes


class Launched:
    """What depth.launch.py starts for the given command-line arguments."""

    def __init__(self, monkeypatch, installed=('tf2_ros', 'rviz2'), **arguments):
        launch_file, self.nodes = load_launch_file(monkeypatch, 'depth.launch.py', installed)
        self.launch_file = launch_file
        entities = launch_file.generate_launch_description().args[0]
        configurations = {e.args[0]: e.kwargs['default_value'] for e in entities
                          if 'default_value' in e.kwargs}
        unknown = set(arguments) - set(configurations)
        assert not unknown, f'not arguments of depth.launch.py: {unknown}'
        configurations.update(arguments)
        (setup,) = [e for e in entities if 'function' in e.kwargs]
        assert not self.nodes, 'Node actions made before the checks of the OpaqueFunction'
        self.actions = setup.kwargs['function'](Context(configurations))
        self.context = Context(configurations)

    def started(self, executable):
        found = [a for a in self.actions if a.kwargs.get('executable') == executable]
        return found[0] if found else None

    def node_overrides(self):
        """Return the parameters given to defeat_node beside the params file."""
        parameters = self.started('defeat_node').kwargs['parameters']
        assert parameters[0].perform(self.context).endswith('.yaml')
        overrides = parameters[1] if len(parameters) > 1 else {}
        return {k: v.args[0] if isinstance(v, Recorded) else v for k, v in overrides.items()}

    def transform(self):
        """Return static_transform_publisher's arguments as {flag: value}."""
        arguments = self.started('static_transform_publisher').kwargs['arguments']
        values = [a.perform(self.context) if isinstance(a, Configuration) else a
                  for a in arguments]
        return dict(zip(values[0::2], values[1::2]))


def pose_of(transform):
    """Return the 4 x 4 pose a static_transform_publisher's arguments give."""
    pose = np.eye(4)
    pose[:3, :3] = quaternion_to_matrix(*(float(transform[f'--q{a}']) for a in 'xyzw'))
    pose[:3, 3] = [float(transform[f'--{a}']) for a in 'xyz']
    return pose


def test_defaults_publish_the_shipped_mount_and_override_nothing(monkeypatch):
    launched = Launched(monkeypatch)
    assert launched.node_overrides() == {}
    transform = launched.transform()
    assert transform['--frame-id'] == 'base_link'
    assert transform['--child-frame-id'] == 'camera_optical'
    assert [float(transform[f'--{k}']) for k in ('x', 'y', 'z', 'qx', 'qy', 'qz', 'qw')] == [
        0.0, 0.0, 1.65, -0.5, 0.5, -0.5, 0.5]
    shipped = yaml.safe_load((REPO / 'config' / 'depth.yaml').read_text())['/**/defeat']
    expected = mount_pose(*(shipped['ros__parameters'][f'camera_{k}']
                            for k in ('x', 'y', 'z', 'roll', 'pitch', 'yaw')))
    np.testing.assert_allclose(pose_of(transform), expected, atol=1e-12)
    assert launched.started('static_transform_publisher').kwargs['parameters'] == [
        {'use_sim_time': False}]
    assert launched.started('rviz2') is None


def test_the_params_file_wins_over_launch_defaults(monkeypatch, tmp_path):
    params = tmp_path / 'mine.yaml'
    params.write_text(yaml.safe_dump({
        '/**': {'ros__parameters': {'camera_x': 9.0}},
        '/**/defeat': {'ros__parameters': {
            'base_frame': 'chassis', 'camera_height': 1.2, 'camera_x': 0.4, 'camera_z': 1.1,
            'camera_pitch': 0.2, 'use_sim_time': True}},
        '/camera/other': {'ros__parameters': {'camera_y': 5.0}},
        'defeat': {'ros__parameters': {'camera_y': 7.0}},  # the root namespace's node only
    }))
    launched = Launched(monkeypatch, params_file=str(params))
    assert launched.node_overrides() == {}
    transform = launched.transform()
    assert transform['--frame-id'] == 'chassis'
    np.testing.assert_allclose(pose_of(transform), mount_pose(0.4, 0.0, 1.1, 0.0, 0.2, 0.0),
                               atol=1e-12)
    assert launched.started('static_transform_publisher').kwargs['parameters'] == [
        {'use_sim_time': True}]
    at_root = Launched(monkeypatch, params_file=str(params), namespace='')
    assert float(at_root.transform()['--y']) == 7.0


@pytest.mark.parametrize('key', ['/camera/defeat', '/*/defeat', '/**', 'camera/defeat'])
def test_node_keys_apply_by_rcl_rules(monkeypatch, tmp_path, key):
    params = tmp_path / 'mine.yaml'
    params.write_text(yaml.safe_dump({key: {'ros__parameters': {'camera_yaw': 0.5}}}))
    launched = Launched(monkeypatch, params_file=str(params))
    np.testing.assert_allclose(pose_of(launched.transform()), mount_pose(z=1.65, yaw=0.5),
                               atol=1e-12)
    elsewhere = Launched(monkeypatch, params_file=str(params), namespace='front/left')
    expected_yaw = 0.5 if key == '/**' else 0.0
    np.testing.assert_allclose(pose_of(elsewhere.transform()),
                               mount_pose(z=1.65, yaw=expected_yaw), atol=1e-12)


def test_command_line_arguments_override_the_params_file(monkeypatch, tmp_path):
    params = tmp_path / 'mine.yaml'
    params.write_text(yaml.safe_dump({'/**/defeat': {'ros__parameters': {
        'base_frame': 'chassis', 'camera_z': 1.1, 'camera_roll': 0.05}}}))
    launched = Launched(monkeypatch, params_file=str(params), base_frame='body', camera_x='0.3',
                        camera_z='2', camera_yaw='-0.4', camera_pitch='0.1',
                        camera_height='1.5', use_sim_time='True', model='/models/m',
                        backend='onnxruntime', image_transport='compressed')
    assert launched.node_overrides() == {
        'base_frame': 'body', 'camera_x': 0.3, 'camera_z': 2.0, 'camera_yaw': -0.4,
        'camera_pitch': 0.1, 'camera_height': 1.5, 'use_sim_time': True, 'model': '/models/m',
        'backend': 'onnxruntime', 'image_transport': 'compressed'}
    transform = launched.transform()
    assert transform['--frame-id'] == 'body'
    # camera_height (for the ground-plane scale) is not the mount's z.
    np.testing.assert_allclose(pose_of(transform), mount_pose(0.3, 0.0, 2.0, 0.05, 0.1, -0.4),
                               atol=1e-12)
    strings = launched.started('defeat_node').kwargs['parameters'][1]
    assert all(strings[k].kwargs == {'value_type': str}
               for k in ('base_frame', 'model', 'backend', 'image_transport'))
    with pytest.raises(RuntimeError, match="camera_x: 'ahead' from the command line is not a "
                                           'number'):
        Launched(monkeypatch, camera_x='ahead')


@pytest.mark.parametrize('roll,pitch,yaw', [(0.0, 0.0, 0.0), (0.1, -0.3, 2.5),
                                            (-1.2, 0.7, -3.0), (3.1, 1.5, 0.2)])
def test_the_transform_is_the_mount_the_node_uses(monkeypatch, roll, pitch, yaw):
    """Quaternion in plain math in the launch file == geometry.mount_pose of the node."""
    launched = Launched(monkeypatch, camera_roll=repr(roll), camera_pitch=repr(pitch),
                        camera_yaw=repr(yaw), camera_y='-0.2')
    transform = launched.transform()
    np.testing.assert_allclose(pose_of(transform),
                               mount_pose(0.0, -0.2, 1.65, roll, pitch, yaw), atol=1e-9)
    quaternion = [float(transform[f'--q{a}']) for a in 'xyzw']
    assert math.isclose(sum(q * q for q in quaternion), 1.0) and quaternion[3] >= 0


def test_camera_tf_without_tf2_ros_starts_nothing_and_says_how(monkeypatch):
    with pytest.raises(RuntimeError, match='camera_tf:=true needs the ROS 2 package tf2_ros, '
                                           'which is not installed: .* camera_tf:=false'):
        Launched(monkeypatch, installed=('rviz2',))
    launch_file, nodes = load_launch_file(monkeypatch, 'depth.launch.py', ('rviz2',))
    entities = launch_file.generate_launch_description().args[0]
    (setup,) = [e for e in entities if 'function' in e.kwargs]
    configurations = {e.args[0]: e.kwargs['default_value'] for e in entities
                      if 'default_value' in e.kwargs}
    with pytest.raises(RuntimeError):
        setup.kwargs['function'](Context(configurations))
    assert nodes == []  # no Node action exists: none can be left running
    launched = Launched(monkeypatch, installed=(), camera_tf='false')
    assert [n.kwargs['executable'] for n in launched.nodes] == ['defeat_node']
    with pytest.raises(RuntimeError, match='rviz:=true needs the ROS 2 package rviz2.*rviz:=f'):
        Launched(monkeypatch, installed=('tf2_ros',), rviz='true')
    launched = Launched(monkeypatch, rviz='true', use_sim_time='true')
    assert launched.started('rviz2').kwargs['parameters'] == [{'use_sim_time': True}]


def test_bag_playback_passes_every_depth_argument_on_with_the_same_defaults(monkeypatch):
    """Arguments it does not pass on, or passes with another default, override params files."""
    launch_file, _ = load_launch_file(monkeypatch, 'bag_playback.launch.py', ())
    entities = launch_file.generate_launch_description().args[0]
    (include,) = [e for e in entities if 'launch_arguments' in e.kwargs]
    passed = dict(include.kwargs['launch_arguments'])
    depth = declared_defaults(parse(REPO / 'launch' / 'depth.launch.py'))
    playback = {e.args[0]: e.kwargs.get('default_value') for e in entities
                if type(e) is Recorded and e.args and isinstance(e.args[0], str)}
    assert set(passed) == set(depth)
    assert passed.pop('use_sim_time') == 'true'
    for name, value in passed.items():
        assert isinstance(value, Configuration) and value.name == name
        default = depth[name] if name != 'params_file' else None
        assert playback[name] == default or name == 'params_file', name
    assert playback['params_file'].endswith('config/depth.yaml')
    assert playback['delay'] == '0.0'
    # depth.launch.py's checks run before the player starts: nothing is left running.
    order = [e for e in entities if 'launch_arguments' in e.kwargs or 'function' in e.kwargs]
    assert order == [include, *[e for e in entities if 'function' in e.kwargs]]


def test_package_xml_declares_what_the_launch_files_start_and_import():
    """tf2_ros (camera_tf:=true, the default) is declared; rviz2 (rviz:=true) is optional."""
    import xml.etree.ElementTree as ElementTree
    root = ElementTree.parse(REPO / 'package.xml').getroot()
    depends = {element.text for element in root.iter('exec_depend')}
    assert {'launch', 'launch_ros', 'ament_index_python', 'python3-yaml', 'tf2_ros'} <= depends
    assert 'rviz2' not in depends
    build = (REPO / 'docs' / 'ros.md').read_text().split('## Build')[1].split('\n## ')[0]
    assert '`tf2_ros` is a declared dependency' in build


def test_depth_launch_gives_its_processes_the_large_images_profile_and_keeps_a_users_own():
    """SetEnvironmentVariable(PROFILES, EnvironmentVariable(PROFILES, default_value=...))."""
    path = REPO / 'launch' / 'depth.launch.py'
    tree = parse(path)
    (call,) = calls_to(tree, 'SetEnvironmentVariable')
    constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                 for t in n.targets if isinstance(n.value, ast.Constant)}
    name, value = call.args
    assert constants[name.id] == 'FASTDDS_DEFAULT_PROFILES_FILE'
    assert value.func.id == 'EnvironmentVariable' and value.args[0].id == name.id
    default = next(k.value for k in value.keywords if k.arg == 'default_value')
    assert [a.value for a in default.args[1:]] == ['config', 'fastdds_large_images.xml']
    assert (REPO / 'config' / 'fastdds_large_images.xml').is_file()
    assert any(k.arg == 'condition' for k in call.keywords)  # large_images_profile:=false
    # LARGE_DATA in some processes of a graph and not others cuts them apart: never set it.
    for launch_file in LAUNCH_FILES:
        assert 'FASTDDS_BUILTIN_TRANSPORTS' not in set(string_constants(parse(launch_file)))
