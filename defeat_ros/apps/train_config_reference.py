"""
Generate ``docs/train_config.md``, the reference of every TrainConfig field, from its docs.

    python -m defeat_ros.apps.train_config_reference          # rewrite the file
    python -m defeat_ros.apps.train_config_reference --check  # exit 1 when it is out of date

The dataclasses are the one source: each field's name, default and attribute docstring
(:func:`~defeat_ros.apps.parameter_files.documented_fields`) in :class:`TrainConfig` and its
sections, ``data.augment`` and the ``data.source`` of every dataset. Tables, YAML scalars and
the check come from :mod:`defeat_ros.apps.parameter_files`, which generates the node's
parameter files the same way; a test runs ``--check``.
"""

import argparse
from dataclasses import fields
import inspect
import sys

from defeat_ros.apps.parameter_files import (cell, constraints, documented_fields, REPOSITORY,
                                             scalar, update)
from defeat_ros.data.augment import AugmentConfig
from defeat_ros.data.datasets import DATASETS
from defeat_ros.trainer.config import TrainConfig
from defeat_ros.typed_config import TypedConfig

COMMAND = 'python -m defeat_ros.apps.train_config_reference'

HEADER = f"""\
# TrainConfig reference

<!-- Generated from the config dataclasses by {COMMAND}: do not edit. -->

Every field of a training config (`config/train/*.yaml`, `defeat-ros train --config`), with its
default; a config names only what differs. `--set KEY=VALUE` overrides one field by the dotted
name in the first column, the value parsed as YAML. How to train: [training.md](training.md).
"""


def source_file(config_class):
    """Return the repository path of the module that defines ``config_class``."""
    return inspect.getfile(config_class).removeprefix(str(REPOSITORY) + '/')


def sections():
    """
    Return (heading, dotted prefix, config class, intro) for every table of the reference.

    The top level, then each TypedConfig section of TrainConfig in field order (its field doc
    is the intro), ``data`` followed by ``data.augment`` and ``data.source`` per dataset.
    """
    found = [('Top level', '', TrainConfig, 'Fields outside the sections.')]
    docs = {item.name: item.doc for item in documented_fields(TrainConfig)}
    for item in fields(TrainConfig):
        if is_section(item.type):
            found.append((f'`{item.name}`', f'{item.name}.', item.type, docs[item.name]))
            if item.name == 'data':
                found.append(('`data.augment`', 'data.augment.', AugmentConfig,
                              AugmentConfig.__doc__))
                found += [(f'`data.source` of `dataset: {name}`', 'data.source.',
                           dataset.Config, f'{dataset.Config.__doc__} The top-level '
                           '`validation` names those of these fields that differ for the '
                           'held-out set.') for name, dataset in DATASETS.items()]
    return found


def is_section(kind):
    """Whether a field of this type is a nested config (a section of its own)."""
    return isinstance(kind, type) and issubclass(kind, TypedConfig)


def table(prefix, config_class):
    """Return the markdown table of the fields of ``config_class`` (nested sections left out)."""
    section_names = {item.name for item in fields(config_class) if is_section(item.type)}
    rows = ['| field | default | description |', '| --- | --- | --- |']
    for item in documented_fields(config_class):
        if item.name in section_names:
            continue
        doc = item.doc + (f' ({constraints(item)})' if constraints(item) else '')
        rows.append(f'| `{prefix}{item.name}` | `{scalar(item.default)}` | {cell(doc)} |')
    return '\n'.join(rows)


def reference():
    """Return the text of docs/train_config.md."""
    parts = [HEADER]
    for heading, prefix, config_class, intro in sections():
        parts.append(f'## {heading}\n\n{" ".join(intro.split())} '
                     f'(`{config_class.__name__}`, `{source_file(config_class)}`)\n\n'
                     f'{table(prefix, config_class)}\n')
    return '\n'.join(parts)


def main(argv=None):
    """Rewrite docs/train_config.md, or with --check report that it is out of date."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--check', action='store_true', help='only check, exit 1 if stale')
    args = parser.parse_args(argv)
    return update({REPOSITORY / 'docs' / 'train_config.md': reference()}, args.check, COMMAND)


if __name__ == '__main__':
    sys.exit(main())
