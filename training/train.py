#!/usr/bin/env python3
"""
Train DeFeat-Net from a YAML config: ``defeat-ros train`` as a script, for torchrun.

    python training/train.py --config config/train/kitti_defeat.yaml
        --set data.source.root=/data/kitti_raw --set data.batch_size=8
    torchrun --nproc_per_node=4 training/train.py --config config/train/kitti_defeat.yaml
"""

import sys

from defeat_ros.apps.cli import main as defeat_ros


def main(argv=None):
    """Run ``defeat-ros train`` with ``argv``; return the exit code."""
    return defeat_ros(['train', *(sys.argv[1:] if argv is None else argv)])


if __name__ == '__main__':
    sys.exit(main())
