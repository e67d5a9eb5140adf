"""Run ament_pep257 (docstring conventions) over the package's Python sources."""

from pathlib import Path

from ament_pep257.main import main
import pytest

REPO = Path(__file__).resolve().parents[1]
NOT_SOURCES = {'build', 'install', 'log', 'demo_output'}


def lint_paths():
    """Top-level Python files and folders, leaving out hidden folders and colcon's outputs."""
    return sorted(
        entry.name for entry in REPO.iterdir()
        if (entry.is_dir() and entry.name[0] not in '._' and entry.name not in NOT_SOURCES)
        or (entry.is_file() and entry.suffix == '.py'))


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257(monkeypatch):
    monkeypatch.chdir(REPO)
    rc = main(argv=lint_paths())
    assert rc == 0, 'Found code style errors / warnings'
