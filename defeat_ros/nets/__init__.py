"""
The DeFeat-Net networks: DepthNet, FeatNet, PoseNet and the DeFeatNet bundle.

The names below load their modules (and torch) when first used, so that the runtime reads a
model's configuration (:mod:`~defeat_ros.nets.config`, :func:`~defeat_ros.nets.model_dir.
read_config`) without importing torch.
"""

import importlib

MODULES = {'ModelConfig': 'config', 'DeFeatNet': 'defeat_net', 'TrainOutputs': 'defeat_net',
           'DepthNet': 'depth_net', 'disparity_to_depth': 'depth_net', 'FeatNet': 'feat_net',
           'load_model': 'model_dir', 'save_model': 'model_dir', 'PoseNet': 'pose_net'}
"""Exported name -> the module of this package that defines it."""

__all__ = sorted(MODULES)


def __getattr__(name):
    """Import an exported name's module on first use (PEP 562)."""
    if name not in MODULES:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    return getattr(importlib.import_module(f'{__name__}.{MODULES[name]}'), name)
