"""Run ament_flake8 (the ROS 2 code style: single quotes, google import order, 99 columns)."""

from pathlib import Path

from ament_flake8.main import main_with_errors
import pytest

REPO = Path(__file__).resolve().parents[1]
NOT_SOURCES = {'build', 'install', 'log', 'demo_output'}


def lint_paths():
    """Top-level Python files and folders, leaving out hidden folders and colcon's outputs."""
    return sorted(
        entry.name for entry in REPO.iterdir()
        if (entry.is_dir() and entry.name[0] not in '._' and entry.name not in NOT_SOURCES)
        or (entry.is_file() and entry.suffix == '.py'))


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8(monkeypatch):
    monkeypatch.chdir(REPO)
    rc, errors = main_with_errors(argv=lint_paths())
    assert rc == 0, \
        'Found %d code style errors / warnings:\n' % len(errors) + \
        '\n'.join(errors)
