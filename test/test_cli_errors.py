"""A user's mistake is one line naming the input or option at fault, and exit code 2."""

import importlib
from pathlib import Path
import shutil

from defeat_ros.apps.cli import main
import pytest

MODELS = Path(__file__).resolve().parents[1] / 'models'


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """Work in a folder with an empty one, a model without weights and a synth output."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'unweighted').mkdir()
    shutil.copy(MODELS / 'default' / 'config.json', tmp_path / 'unweighted')
    (tmp_path / 'drives' / 'day' / 'bag').mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize('argv, named', [
    (['evaluate', 'empty', '--out', 'report'], 'empty is not a defeat_ros model directory'),
    (['export', 'unweighted'], 'unweighted: missing model.safetensors'),
    (['process-bag', 'missing_bag', 'out'], 'bag missing_bag does not exist'),
    (['process-bag', 'empty', 'out', '--model', 'empty'], '--model empty: not a model'),
    (['finetune', '--bag', 'missing_bag', '--from', 'unweighted', '--out', 'new'],
     '--bag missing_bag: no such bag'),
    (['finetune', '--bag', 'empty', '--from', 'empty', '--out', 'new'], '--from empty: '),
    (['train', '--config', 'missing.yaml'], '--config missing.yaml: no such file'),
    (['synth', '--out', 'drives', '--frames', '500'], '--out drives: drives/day/bag exists'),
    (['predict', 'missing.png', '--out', 'depth'], 'missing.png: no such file or folder'),
    (['predict', 'missing.png', '--out', 'depth', '--scale-mode', 'speed'],
     'scale_mode speed needs the vehicle speed'),
])
def test_user_errors_are_one_line_with_exit_code_2(workspace, capsys, argv, named):
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1, error
    assert error.startswith(f'defeat-ros {argv[0]}: error: ') and named in error, error
    assert sorted(path.name for path in (workspace / 'drives' / 'day').iterdir()) == ['bag']


def test_a_subcommand_says_it_is_starting_before_its_slow_imports(workspace, capsys,
                                                                  monkeypatch):
    """The first line comes before the subcommand's module (PyTorch, ONNX) is imported."""
    seen_before_import = []
    real_import = importlib.import_module

    def recording_import(name, *args):
        if name.startswith('defeat_ros.apps.'):
            seen_before_import.append(capsys.readouterr().out)
        return real_import(name, *args)

    monkeypatch.setattr(importlib, 'import_module', recording_import)
    assert main(['train', '--config', 'missing.yaml']) == 2
    assert seen_before_import == ['defeat-ros train: starting (loading PyTorch and the model '
                                  'code)\n']
