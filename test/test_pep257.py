"""Run ament_pep257 (docstring conventions) over the package's Python sources."""

from ament_pep257.main import main
import pytest


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257(lint_paths):
    rc = main(argv=lint_paths)
    assert rc == 0, 'Found code style errors / warnings'
