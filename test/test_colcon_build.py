"""
Build the package with colcon in a throwaway workspace and check the installed layout.

This is the layout `ros2 run`, `ros2 launch` and launch_ros rely on: the ament resource index
marker, package.xml and the launch/config files under share/defeat_ros, and the executables
under lib/defeat_ros. Both a normal and a --symlink-install build are checked.
"""

import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = 'defeat_ros'
# Top-level entries of the repository that are not part of the package source (runs: training
# outputs, the configs' default `out`).
NOT_SOURCE = {'.git', '.venv', '.pytest_cache', 'build', 'install', 'log', 'demo_output', 'runs'}
BUILD_TIMEOUT_S = 600


def colcon_executable():
    """Return the colcon next to this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / 'colcon'
    if beside.is_file():
        return str(beside)
    found = shutil.which('colcon')
    if found is None:
        pytest.skip('colcon is not installed (`make venv` installs colcon-common-extensions)')
    return found


def ignore_non_source(folder, names):
    """Leave caches, build outputs and the venv out of the workspace copy."""
    ignored = {n for n in names if n == '__pycache__' or n.endswith('.egg-info')}
    if Path(folder).resolve() == REPO:
        ignored |= NOT_SOURCE & set(names)
    return ignored


def read_logs(log_base):
    """Concatenate colcon's logs of the latest build for a failure message."""
    parts = []
    for log in sorted(Path(log_base).glob('latest_build/**/*.log')):
        parts.append('--- %s ---\n%s' % (log, log.read_text(errors='replace')[-20000:]))
    return '\n'.join(parts)


def source_files(folder):
    """Files under a source folder, relative to the repository root."""
    root = REPO / folder
    return sorted(
        p.relative_to(REPO) for p in root.rglob('*')
        if p.is_file() and '__pycache__' not in p.parts)


@pytest.fixture(scope='module', params=[False, True], ids=['install', 'symlink-install'])
def colcon_install(request, tmp_path_factory):
    """Run `colcon build` on a copy of the package; return the package's install prefix."""
    symlink = request.param
    ws = tmp_path_factory.mktemp('colcon_ws')
    shutil.copytree(REPO, ws / 'src' / PACKAGE, ignore=ignore_non_source, symlinks=True)
    env = dict(os.environ)
    env['COLCON_HOME'] = str(ws / 'colcon_home')  # no user-wide defaults.yaml or mixins
    env['PYTHONDONTWRITEBYTECODE'] = '1'
    command = [
        colcon_executable(), '--log-base', str(ws / 'log'),
        'build',
        '--base-paths', str(ws / 'src'),
        '--build-base', str(ws / 'build'),
        '--install-base', str(ws / 'install'),
        '--event-handlers', 'console_cohesion+', 'desktop_notification-', 'terminal_title-',
    ]
    if symlink:
        command.append('--symlink-install')
    result = subprocess.run(
        command, cwd=ws, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=BUILD_TIMEOUT_S)
    assert result.returncode == 0, \
        'colcon build failed (%d):\n%s\n%s' % (
            result.returncode, result.stdout, read_logs(ws / 'log'))
    return ws / 'install'


def test_ament_resource_index_marker(colcon_install):
    marker = colcon_install / PACKAGE / 'share/ament_index/resource_index/packages' / PACKAGE
    assert marker.is_file(), 'launch_ros cannot find the package without %s' % marker


def test_package_xml_installed(colcon_install):
    assert (colcon_install / PACKAGE / 'share' / PACKAGE / 'package.xml').is_file()


@pytest.mark.parametrize('folder', ['launch', 'config'])
def test_share_files_installed(colcon_install, folder):
    files = source_files(folder)
    assert files, 'no files in %s/' % folder
    share = colcon_install / PACKAGE / 'share' / PACKAGE
    missing = [str(f) for f in files if not (share / f).is_file()]
    assert not missing, 'not installed under %s: %s' % (share, missing)


def test_executable_in_libexec_dir(colcon_install):
    script = colcon_install / PACKAGE / 'lib' / PACKAGE / 'defeat-ros'
    assert script.is_file(), 'ros2 run looks for executables in %s' % script.parent
    assert os.access(script, os.X_OK)


def test_sourced_workspace_finds_package(colcon_install):
    """After `source install/setup.bash` the package imports and the ament index finds it."""
    bash = shutil.which('bash')
    if bash is None:
        pytest.skip('bash is not available to source install/setup.bash')
    probe = (
        'import ament_index_python.packages as index, defeat_ros; '
        'print(index.get_package_share_directory("defeat_ros")); '
        'print(defeat_ros.__file__)')
    env = {k: v for k, v in os.environ.items()
           if k not in ('AMENT_PREFIX_PATH', 'COLCON_PREFIX_PATH', 'PYTHONPATH')}
    result = subprocess.run(
        [bash, '-c', 'source "$1/setup.bash" && "$2" -c "$3"', 'bash',
         str(colcon_install), sys.executable, probe],
        cwd=colcon_install, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    share, module = result.stdout.split()[-2:]
    assert Path(share) == colcon_install / PACKAGE / 'share' / PACKAGE
    assert not Path(module).resolve().is_relative_to(REPO), \
        'defeat_ros was imported from the source tree, not the workspace: %s' % module
