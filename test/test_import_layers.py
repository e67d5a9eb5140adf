"""The layer contracts of .importlinter hold: imports run down the layers, rclpy only in ros/."""

from pathlib import Path
import subprocess
import sys

REPOSITORY = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name('lint-imports')
    result = subprocess.run([str(lint_imports), '--config', str(REPOSITORY / '.importlinter'),
                             '--no-cache'], cwd=REPOSITORY, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert 'Contracts: 2 kept, 0 broken.' in result.stdout
