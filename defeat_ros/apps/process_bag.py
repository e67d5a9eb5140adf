"""``defeat-ros process-bag``: the node's outputs for every frame of a bag, into a new bag."""

from defeat_ros.apps.arguments import add_options, config_from_args
from defeat_ros.camera.bag_processing import PartialBagError, process_bag, ProcessConfig


def add_arguments(parser):
    """Add the options of ``defeat-ros process-bag``: those of ProcessConfig, and --quiet."""
    parser.add_argument('input', help='rosbag2 recording (directory, or one .mcap/.db3 file)')
    parser.add_argument('output', help='bag directory to write (must not exist)')
    add_options(parser, ProcessConfig)
    parser.add_argument('--quiet', action='store_true', help='no progress bar')


def run(args):
    """Run ``defeat-ros process-bag`` with parsed ``args``."""
    try:
        report = process_bag(args.input, args.output, config_from_args(ProcessConfig, args),
                             progress=not args.quiet)
    except PartialBagError as error:
        print(error.report.summary())
        raise
    print(report.summary())
