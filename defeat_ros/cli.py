"""The ``defeat-ros`` command: one entry point with a subcommand per workflow."""

import argparse
import sys


def add_demo(subparsers):
    """``defeat-ros demo``: train from scratch on a rendered drive and report depth accuracy."""
    parser = subparsers.add_parser('demo', help='train on a rendered drive and evaluate it')
    parser.add_argument('--out', default='demo_output', help='output directory')
    parser.add_argument('--steps', type=int, default=60, help='optimisation steps')
    parser.add_argument('--frames', type=int, default=24, help='frames in the training drive')
    parser.add_argument('--height', type=int, default=96, help='network height (multiple of 32)')
    parser.add_argument('--width', type=int, default=320, help='network width (multiple of 32)')
    parser.add_argument('--batch', type=int, default=2, help='frame triplets per step')
    parser.add_argument('--lr', type=float, default=2e-4, help='Adam learning rate')
    parser.add_argument('--seed', type=int, default=0, help='seed of scene, path and weights')

    def run(args):
        from defeat_ros.demo import run_demo
        run_demo(args.out, args.steps, args.frames, args.height, args.width, args.batch, args.lr,
                 args.seed)
    parser.set_defaults(run=run)


def main(argv=None):
    """Parse ``argv`` and run the chosen subcommand; returns the process exit code."""
    parser = argparse.ArgumentParser(prog='defeat-ros', description=__doc__)
    subparsers = parser.add_subparsers(dest='command', required=True)
    add_demo(subparsers)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f'defeat-ros {args.command}: error: {error}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
