"""Run ament_flake8 (the ROS 2 code style: single quotes, google import order, 99 columns)."""

from ament_flake8.main import main_with_errors
import pytest


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8(lint_paths):
    rc, errors = main_with_errors(argv=lint_paths)
    assert rc == 0, \
        'Found %d code style errors / warnings:\n' % len(errors) + \
        '\n'.join(errors)
