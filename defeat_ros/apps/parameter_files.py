"""
Generate ``config/depth.yaml`` and the README's parameter table from the node's typed config.

    python -m defeat_ros.apps.parameter_files          # rewrite both files
    python -m defeat_ros.apps.parameter_files --check  # exit 1 when either is out of date

:class:`~defeat_ros.ros.node_config.NodeConfig` is the one source of names, defaults,
descriptions and constraints; a test runs ``--check``.
"""

import argparse
from pathlib import Path
import sys
import textwrap

from defeat_ros.ros.node_config import NodeConfig
from defeat_ros.typed_config import options
import yaml

REPOSITORY = Path(__file__).resolve().parents[2]

YAML_HEADER = """\
# Parameters of the DeFeat-Net node (executable defeat_node, node name defeat).
# Generated from defeat_ros/ros/node_config.py by `python -m defeat_ros.apps.parameter_files`.
# Used by launch/depth.launch.py (params_file:=...). The key `/**/defeat` matches a node named
# `defeat` in any namespace; a bare `defeat:` would only match the node at the root namespace.
/**/defeat:
  ros__parameters:
"""

TABLE_MARKER = '<!-- parameter table: generated from defeat_ros/ros/node_config.py -->'
"""The README line after which the table stands (up to the next blank line)."""


def scalar(value):
    """Return a YAML scalar as config/depth.yaml writes it: two quotes, true, 2.0e-05."""
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('\n...').strip()


def constraints(item):
    """Return the constraints of an option in words, read-only first ('' for none)."""
    words = ['read-only'] if item.read_only else []
    if item.choices:
        words.append('one of ' + ', '.join(f'`{choice}`' for choice in item.choices))
    elif item.pattern:
        words.append(f'matches `{item.pattern}`')
    elif item.minimum is not None:
        words.append(f'{item.minimum:g} .. {item.maximum:g}')
    return '; '.join(words)


def node_yaml():
    """Return the text of config/depth.yaml: every parameter, its doc as a comment, default."""
    lines = [YAML_HEADER.rstrip('\n')]
    for item in options(NodeConfig):
        comment = item.doc + (f' ({constraints(item)})' if constraints(item) else '')
        lines += textwrap.wrap(comment, 99, initial_indent='    # ', subsequent_indent='    # ')
        lines.append(f'    {item.name}: {scalar(item.default)}')
    return '\n'.join(lines) + '\n'


def parameter_table():
    """Return the README's markdown table of the parameters."""
    def cell(text):
        return text.replace('|', '\\|').replace('<', '&lt;').replace('*', '\\*')
    rows = [TABLE_MARKER, '| parameter | default | description | constraints |',
            '| --- | --- | --- | --- |']
    for item in options(NodeConfig):
        rows.append(f'| `{item.name}` | `{scalar(item.default)}` | {cell(item.doc)} | '
                    f'{cell(constraints(item)).replace("&lt;", "<")} |')
    return '\n'.join(rows) + '\n'


def readme_with_table(readme):
    """Return the README text with its parameter table replaced by :func:`parameter_table`."""
    start = readme.index(TABLE_MARKER)
    end = readme.index('\n\n', start) + 1
    return readme[:start] + parameter_table() + readme[end:]


def main(argv=None):
    """Rewrite the generated files, or with --check report which are out of date."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--check', action='store_true', help='only check, exit 1 if stale')
    args = parser.parse_args(argv)
    readme = REPOSITORY / 'README.md'
    wanted = {REPOSITORY / 'config' / 'depth.yaml': node_yaml(),
              readme: readme_with_table(readme.read_text())}
    stale = [path for path, text in wanted.items() if path.read_text() != text]
    for path in stale:
        if args.check:
            print(f'{path} is out of date: run python -m defeat_ros.apps.parameter_files')
        else:
            path.write_text(wanted[path])
    return 1 if args.check and stale else 0


if __name__ == '__main__':
    sys.exit(main())
