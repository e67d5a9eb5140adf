"""
The ``defeat-ros`` command: one entry point with a subcommand per workflow.

Each subcommand is a module of :mod:`defeat_ros.apps` with ``add_arguments(parser)`` and
``run(args)``; only the chosen one is imported, so ``defeat-ros --help`` starts quickly.
Importing one takes seconds (PyTorch, ONNX, OpenCV): a subcommand says that it is starting
before it imports, so no long command begins with silence.
"""

import argparse
import importlib
import sys

SUBCOMMANDS = {
    'demo': ('demo', 'play synthetic day and night drives through the ROS 2 node graph'),
    'predict': ('predict', 'depth of images, folders of images and videos, written as PNG, '
                           'NumPy and preview files'),
    'synth': ('synth', 'render a synthetic drive (day, night or both) as KITTI folders and '
                       'bags'),
    'train': ('train', 'train DeFeat-Net from a YAML config (config/train/)'),
    'pretrain-encoder': ('pretrain_encoder', 'self-supervised (SimCLR) pretraining of a ResNet '
                                             'encoder on unlabeled frames, for '
                                             'model.pretrained_encoder'),
    'evaluate': ('evaluate', 'score a model: depth, pose and features, day versus night'),
    'finetune': ('finetune', 'fine-tune a model on bags (self-supervised) and write a new '
                             'model'),
    'export': ('export', 'export a model directory to ONNX'),
    'benchmark': ('benchmark', 'measure inference latency per backend'),
    'process-bag': ('process_bag', 'run depth, features and odometry over a rosbag2 '
                                   'recording, as fast as the machine allows, and write the '
                                   'results into a new bag'),
}
"""Subcommand -> (module of defeat_ros.apps, one-line help)."""

HELP_FLAGS = {'-h', '--help'}

ERRORS = (ValueError, FileNotFoundError, FileExistsError)
"""What a subcommand raises for bad input: printed as one line, exit status 2."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show an option's default in its help, unless it is empty, a switch or required."""

    def _get_help_string(self, action):
        """Return the help, with ``(default: ...)`` only where a default says something."""
        if action.required or isinstance(action.default, bool) or action.default in ('', None):
            return action.help
        return super()._get_help_string(action)


def build_parser(chosen):
    """Return the parser, with the options of subcommand ``chosen`` (None: none) added."""
    parser = argparse.ArgumentParser(
        prog='defeat-ros', description='DeFeat-Net depth, features and odometry from one camera.')
    subparsers = parser.add_subparsers(dest='command', required=True)
    for name, (module, summary) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=summary, description=summary,
                                    formatter_class=HelpFormatter)
        if name == chosen:
            app = importlib.import_module(f'defeat_ros.apps.{module}')
            app.add_arguments(sub)
            sub.set_defaults(run=app.run)
    return parser


def main(argv=None):
    """Parse ``argv`` and run the chosen subcommand; return the process exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = next((arg for arg in argv if not arg.startswith('-')), None)
    if chosen in SUBCOMMANDS and not HELP_FLAGS & set(argv):
        print(f'defeat-ros {chosen}: starting (loading PyTorch and the model code)', flush=True)
    args = build_parser(chosen if chosen in SUBCOMMANDS else None).parse_args(argv)
    try:
        args.run(args)
    except ERRORS as error:
        print(f'defeat-ros {args.command}: error: {error}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
