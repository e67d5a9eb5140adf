#!/usr/bin/env python3
"""
Evaluate a DeFeat-Net model directory: ``defeat-ros evaluate`` as a script.

    python training/evaluate.py MODEL_DIR --out eval/synthetic
    python training/evaluate.py MODEL_DIR --out eval/eigen --kitti KITTI_RAW --split test.txt
"""

import sys

from defeat_ros.apps.cli import main as defeat_ros


def main(argv=None):
    """Run ``defeat-ros evaluate`` with ``argv``; return the exit code."""
    return defeat_ros(['evaluate', *(sys.argv[1:] if argv is None else argv)])


if __name__ == '__main__':
    sys.exit(main())
