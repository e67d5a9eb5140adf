"""Typed configuration dataclasses <-> dictionaries and YAML, rejecting unknown fields by name."""

from dataclasses import asdict, fields

import yaml


def config_from_dict(cls, data):
    """Build dataclass ``cls`` from a mapping; unknown keys raise ValueError naming them."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(
            f'unknown {cls.__name__} fields: {unknown}; known fields: {sorted(known)}')
    return cls(**data)


def config_to_dict(config):
    """Plain dictionary of a config dataclass (for JSON or YAML)."""
    return asdict(config)


def load_yaml_config(cls, path):
    """Read a YAML mapping from ``path`` into dataclass ``cls``."""
    with open(path) as stream:
        data = yaml.safe_load(stream) or {}
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a mapping of {cls.__name__} fields')
    return config_from_dict(cls, data)
