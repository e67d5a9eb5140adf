"""``defeat-ros finetune``: self-supervised fine-tuning of a model on rosbag2 recordings."""

from defeat_ros.apps.arguments import add_options, config_from_args
from defeat_ros.trainer.finetune import FinetuneConfig, run_finetune


def add_arguments(parser):
    """Add the options of ``defeat-ros finetune`` (those of FinetuneConfig)."""
    add_options(parser, FinetuneConfig)


def run(args):
    """Run ``defeat-ros finetune`` with parsed ``args``."""
    run_finetune(config_from_args(FinetuneConfig, args))
