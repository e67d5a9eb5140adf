"""
``defeat-ros train``: train DeFeat-Net from a YAML config on one GPU, several, or the CPU.

    defeat-ros train --config config/train/kitti_defeat.yaml
        --set data.source.root=/data/kitti_raw --set data.batch_size=8
    torchrun --nproc_per_node=4 training/train.py --config config/train/kitti_defeat.yaml
"""

from dataclasses import dataclass
import gc
from pathlib import Path
import sys

from defeat_ros.apps.arguments import add_options, config_from_args
from defeat_ros.trainer import distributed
from defeat_ros.trainer.build import apply_overrides, training_dataset, validation_dataset
from defeat_ros.trainer.config import TrainConfig
from defeat_ros.trainer.trainer import Trainer
from defeat_ros.typed_config import option, TypedConfig
import yaml


@dataclass
class TrainCommand(TypedConfig):
    """Which training ``defeat-ros train`` runs: a config file and overrides of its fields."""

    config: str = option('', 'TrainConfig YAML (config/train/)', required=True)
    overrides: list = option([], 'Override a config field, KEY=VALUE, e.g. data.batch_size=4',
                             flag='--set', repeat=True)


def add_arguments(parser):
    """Add the options of ``defeat-ros train`` (those of TrainCommand)."""
    add_options(parser, TrainCommand)


def run(args):
    """Build the dataset and run the trainer; only rank 0 prints where the model went."""
    command = config_from_args(TrainCommand, args)
    if not Path(command.config).is_file():
        raise FileNotFoundError(f'--config {command.config}: no such file')
    trainer = None
    try:
        with open(command.config) as stream:
            values = yaml.safe_load(stream) or {}
        config = TrainConfig.from_dict(apply_overrides(values, command.overrides))
        trainer = Trainer(config, training_dataset(config),
                          validation=validation_dataset(config))
        result, rank = trainer.train(), trainer.rank
        distributed.barrier()  # no rank leaves the group while another still talks to it
    finally:
        # The DistributedDataParallel wrapper holds the process group: free it while the
        # interpreter is whole, so that no gloo thread is left to interpreter shutdown.
        trainer = None
        gc.collect()
        distributed.teardown()
    if rank == 0:
        print(f'model written to {result}')


if __name__ == '__main__':
    from defeat_ros.apps.cli import main
    sys.exit(main(['train', *sys.argv[1:]]))
