"""
Typed configuration dataclasses <-> dictionaries and YAML, rejecting unknown fields by name.

A field made with :func:`option` carries its documentation and constraints (choices, a
pattern, a range, read-only) as dataclass metadata: the single source from which the ROS
parameter descriptors, the command-line options, ``config/depth.yaml`` and the README's
parameter table are generated (:func:`options` lists them as :class:`Option` records).
"""

from copy import deepcopy
from dataclasses import asdict, dataclass, field, fields, MISSING
import functools
import re

import yaml


def option(default, doc, *, choices=(), pattern='', minimum=None, maximum=None,
           read_only=False, flag='', required=False, repeat=False):
    """
    Return a dataclass field with its documentation and constraints as metadata.

    :param default: the default value (lists and dicts are copied for each instance).
    :param doc: one or two sentences for people: parameter descriptions, --help, YAML comments.
    :param choices: the values allowed (strings).
    :param pattern: a regular expression the whole string value must match.
    :param minimum: smallest allowed number (with ``maximum``).
    :param maximum: largest allowed number.
    :param read_only: set once at start-up (a ROS node rejects changing it at run time).
    :param flag: the command-line flag when it is not ``--`` + the name with dashes; a bool
        defaulting to True may name its negative flag here (``--no-copy``); a name without
        dashes makes a positional argument.
    :param required: the command line must give it (the default only serves other callers).
    :param repeat: a list the command line gives by repeating the flag (else comma-separated).
    """
    metadata = {'doc': doc, 'choices': tuple(choices), 'pattern': pattern,
                'minimum': minimum, 'maximum': maximum, 'read_only': read_only, 'flag': flag,
                'required': required, 'repeat': repeat}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Option:
    """One documented field of a config: name, default and constraints."""

    name: str
    default: object
    doc: str
    choices: tuple = ()
    pattern: str = ''
    minimum: float = None
    maximum: float = None
    read_only: bool = False
    flag: str = ''
    required: bool = False
    repeat: bool = False

    def problem(self, value):
        """Say what is wrong with ``value`` ('' when it is valid)."""
        if self.choices and value not in self.choices:
            return f'{self.name}: {value!r} is not one of {", ".join(self.choices)}'
        if self.pattern and not re.fullmatch(self.pattern, str(value)):
            return f'{self.name}: {value!r} does not match {self.pattern}'
        if self.minimum is not None and isinstance(value, (int, float)) and \
                not self.minimum <= value <= self.maximum:
            return f'{self.name}: {value!r} is not in [{self.minimum}, {self.maximum}]'
        return ''

    def constraints(self):
        """Return the constraints as words ('' for none)."""
        if self.choices:
            return 'one of: ' + ', '.join(self.choices)
        if self.pattern:
            return f'matches {self.pattern}'
        if self.minimum is not None:
            return f'{self.minimum:g} to {self.maximum:g}'
        return ''


@functools.cache
def options(config_class):
    """
    Return the :class:`Option` of every field of ``config_class`` made with :func:`option`.

    Computed once per class (the node reads its parameters through it on every frame); the
    defaults are shared, so callers must not modify them.
    """
    found = []
    for item in fields(config_class):
        if 'doc' not in item.metadata:
            continue
        has_factory = item.default_factory is not MISSING
        default = item.default_factory() if has_factory else item.default
        found.append(Option(item.name, default, **item.metadata))
    return tuple(found)


def comma_list(value, convert=str, name='value'):
    """
    Return a list from a list, or from the comma-separated string a command line gives.

    :param convert: applied to each element (``float`` for numbers).
    :raises ValueError: naming ``name`` when an element does not convert.
    """
    if isinstance(value, str):
        value = [part.strip() for part in value.split(',') if part.strip()]
    try:
        return [convert(part) for part in value]
    except ValueError:
        raise ValueError(f'{name}: cannot read {value!r} as a list of '
                         f'{getattr(convert, "__name__", "values")}') from None


class TypedConfig:
    """Mixin for config dataclasses: every field has a default and a docstring."""

    def to_dict(self):
        """Plain dictionary of the fields (for JSON or YAML)."""
        return asdict(self)

    def check_options(self):
        """Raise ValueError naming the first field made with :func:`option` that is invalid."""
        for item in options(type(self)):
            problem = item.problem(getattr(self, item.name))
            if problem:
                raise ValueError(problem)

    @classmethod
    def from_dict(cls, data):
        """Build from a mapping; nested configs come from nested mappings; unknown keys fail."""
        types = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(data) - set(types))
        if unknown:
            raise ValueError(
                f'unknown {cls.__name__} fields: {unknown}; known fields: {sorted(types)}')
        values = {}
        for name, value in data.items():
            nested = types[name]
            if isinstance(nested, type) and issubclass(nested, TypedConfig) and \
                    isinstance(value, dict):
                value = nested.from_dict(value)
            values[name] = value
        return cls(**values)

    @classmethod
    def from_yaml(cls, path):
        """Read a YAML mapping of fields from ``path``."""
        with open(path) as stream:
            data = yaml.safe_load(stream) or {}
        if not isinstance(data, dict):
            raise ValueError(f'{path}: expected a mapping of {cls.__name__} fields')
        return cls.from_dict(data)
