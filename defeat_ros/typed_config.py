"""Typed configuration dataclasses <-> dictionaries and YAML, rejecting unknown fields by name."""

from dataclasses import asdict, fields

import yaml


class TypedConfig:
    """Mixin for config dataclasses: every field has a default and a docstring."""

    def to_dict(self):
        """Plain dictionary of the fields (for JSON or YAML)."""
        return asdict(self)

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
