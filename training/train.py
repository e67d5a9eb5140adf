#!/usr/bin/env python3
"""
Train DeFeat-Net from a YAML config: one GPU, several (torchrun), or the CPU.

    python training/train.py --config config/train/kitti_defeat.yaml
        --set data.source.root=/data/kitti_raw --set data.batch_size=8
    torchrun --nproc_per_node=4 training/train.py --config config/train/kitti_defeat.yaml
"""

import argparse
import sys

import yaml


def main(argv=None):
    """Parse arguments, build the dataset and run the trainer; returns an exit code."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', required=True, help='TrainConfig YAML (config/train/)')
    parser.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                        help='override a config field, e.g. data.batch_size=4 (repeatable)')
    args = parser.parse_args(argv)
    from defeat_ros.trainer import distributed
    from defeat_ros.trainer.build import apply_overrides, training_dataset, validation_dataset
    from defeat_ros.trainer.config import TrainConfig
    from defeat_ros.trainer.trainer import Trainer
    try:
        with open(args.config) as stream:
            values = yaml.safe_load(stream) or {}
        config = TrainConfig.from_dict(apply_overrides(values, args.set))
        trainer = Trainer(config, training_dataset(config),
                          validation=validation_dataset(config))
        result = trainer.train()
    except (ValueError, FileNotFoundError) as error:
        print(f'train.py: error: {error}', file=sys.stderr)
        return 2
    finally:
        distributed.teardown()
    if trainer.rank == 0:
        print(f'model written to {result}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
