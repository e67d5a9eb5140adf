"""Every ``defeat-ros`` subcommand's --help shows the defaults that say something."""

from defeat_ros.apps.cli import build_parser, main, SUBCOMMANDS
import pytest


@pytest.mark.parametrize('name', sorted(SUBCOMMANDS))
def test_help_shows_each_meaningful_default(name, capsys):
    parser = build_parser(name)
    command = next(action for action in parser._actions if action.dest == 'command')
    options = [action for action in command.choices[name]._actions
               if action.option_strings and action.dest != 'help']
    assert options, f'{name} offers no options'
    with pytest.raises(SystemExit) as stop:
        main([name, '--help'])
    assert stop.value.code == 0
    text = ''.join(capsys.readouterr().out.split())  # argparse wraps long defaults
    for action in options:
        shown = f'(default:{action.default})'.replace(' ', '') in text
        meaningful = action.default not in ('', None) and not isinstance(action.default, bool)
        assert shown == (meaningful and not action.required), (name, action.dest)
