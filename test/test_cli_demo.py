"""The ``defeat-ros demo`` command end to end, on a tiny budget."""

import json

from defeat_ros.cli import main
from defeat_ros.nets import load_model


def test_demo_trains_evaluates_and_writes_its_outputs(tmp_path, capsys):
    out = tmp_path / 'demo'
    code = main(['demo', '--out', str(out), '--steps', '2', '--frames', '6', '--height', '64',
                 '--width', '96'])
    assert code == 0
    summary = json.loads((out / 'summary.json').read_text())
    for when in ('before', 'after'):
        assert 0 < summary[when]['abs_rel'] < 10
        assert summary[when]['self_supervised_loss'] > 0
    assert summary['steps'] == 2
    assert (out / 'contact_sheet.png').stat().st_size > 1000
    model = load_model(out / 'model')
    assert (model.config.height, model.config.width) == (64, 96)
    assert 'untrained' in capsys.readouterr().out


def test_demo_rejects_a_bad_resolution_with_a_clear_error(tmp_path, capsys):
    code = main(['demo', '--out', str(tmp_path), '--steps', '1', '--height', '100'])
    assert code == 2
    assert 'multiples of 32' in capsys.readouterr().err
