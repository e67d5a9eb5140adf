"""
Generate ``config/depth.yaml`` and the README's parameter table from the node's typed config.

    python -m defeat_ros.apps.parameter_files          # rewrite both files
    python -m defeat_ros.apps.parameter_files --check  # exit 1 when either is out of date

:class:`~defeat_ros.ros.node_config.NodeConfig` is the one source of names, defaults,
descriptions and constraints; a test runs ``--check``. The pieces (YAML scalars, constraints
in words, markdown cells, the documented fields of any config dataclass, rewriting or checking
generated files) also generate the TrainConfig reference
(:mod:`defeat_ros.apps.train_config_reference`).
"""

import argparse
import ast
from dataclasses import fields, MISSING
import inspect
from pathlib import Path
import re
import sys
import textwrap

from defeat_ros.ros.node_config import NodeConfig
from defeat_ros.typed_config import Option, options
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


def cell(text):
    """Return ``text`` for a markdown table cell: pipes escaped, '<' and '*' outside code."""
    escapes = {'<': '&lt;', '*': '\\*'}  # inside a code span the escapes would show
    return re.sub(r'(`+).*?\1|[<*]', lambda match: escapes.get(match[0], match[0]),
                  text.replace('|', '\\|'))


def attribute_docs(config_class):
    """
    Return {field name: doc} from the string literal under each field of a dataclass's source.

    The package's configs document a field with a string literal on the lines after it, as
    an attribute docstring; fields of base classes come first; a doc's lines are joined into
    one line.
    """
    docs = {}
    for klass in reversed(config_class.__mro__):
        if '__dataclass_fields__' not in vars(klass):
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        for statement, following in zip(body, body[1:]):
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) \
                    and isinstance(following, ast.Expr) \
                    and isinstance(following.value, ast.Constant) \
                    and isinstance(following.value.value, str):
                docs[statement.target.id] = ' '.join(following.value.value.split())
    return docs


def documented_fields(config_class):
    """
    Return an :class:`~defeat_ros.typed_config.Option` for every field of ``config_class``.

    A field made with :func:`~defeat_ros.typed_config.option` keeps its metadata; any other
    field gets its default and its attribute docstring (:func:`attribute_docs`; '' for none).
    """
    made = {item.name: item for item in options(config_class)}
    docs = attribute_docs(config_class)
    found = []
    for item in fields(config_class):
        if item.name in made:
            found.append(made[item.name])
            continue
        has_factory = item.default_factory is not MISSING
        default = item.default_factory() if has_factory else item.default
        found.append(Option(item.name, default, docs.get(item.name, '')))
    return tuple(found)


def parameter_table():
    """Return the README's markdown table of the parameters."""
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
    return update(wanted, args.check, 'python -m defeat_ros.apps.parameter_files')


def update(wanted, check, command):
    """
    Rewrite the files whose text differs from ``wanted`` ({path: text}), or only report them.

    :param check: report each stale (or missing) file and return 1 if there is one.
    :param command: the command that regenerates them, for the report.
    :return: the exit status.
    """
    stale = [path for path, text in wanted.items()
             if not path.is_file() or path.read_text() != text]
    for path in stale:
        if check:
            print(f'{path} is out of date: run {command}')
        else:
            path.write_text(wanted[path])
    return 1 if check and stale else 0


if __name__ == '__main__':
    sys.exit(main())
