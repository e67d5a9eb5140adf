r"""
``defeat-ros pretrain-encoder``: SimCLR pretraining of a ResNet encoder on unlabeled frames.

    defeat-ros pretrain-encoder --config config/train/default_model.yaml \\
        --set data.source.seeds=[0,1,2] --out encoder_r18_w16.safetensors --steps 1000

The file it writes is what ``model.pretrained_encoder`` names (docs/training.md).
"""

import sys

from defeat_ros.apps.arguments import add_options, config_from_args
from defeat_ros.trainer.encoder_pretraining import PretrainConfig, run_pretraining


def add_arguments(parser):
    """Add the options of ``defeat-ros pretrain-encoder`` (those of PretrainConfig)."""
    add_options(parser, PretrainConfig)


def run(args):
    """Run ``defeat-ros pretrain-encoder`` with parsed ``args``."""
    run_pretraining(config_from_args(PretrainConfig, args))


if __name__ == '__main__':
    from defeat_ros.apps.cli import main
    sys.exit(main(['pretrain-encoder', *sys.argv[1:]]))
