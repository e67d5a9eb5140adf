#!/usr/bin/env python3
"""
Evaluate a DeFeat-Net model directory: depth, pose and features, day versus night.

By default the model is run on synthetic street drives rendered by day and by night (same
street, same trajectory) with exact depth, poses and moving-object masks. With ``--kitti ROOT
--split FILE`` it evaluates depth on KITTI raw frames (split lines ``folder frame side``)
against ground truth projected from their Velodyne scans. Writes results.json, results.md
and PNG figures into --out.

Example::

    python training/evaluate.py MODEL_DIR --out eval/synthetic
    python training/evaluate.py MODEL_DIR --out eval/eigen --kitti KITTI_RAW --split test.txt
"""

import argparse
import sys

from defeat_ros.evaluation.pose import evo_available
from defeat_ros.evaluation.report import markdown_report
from defeat_ros.evaluation.run import evaluate_model, EvaluationConfig


def parse_args(argv=None):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0].strip(),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('model', help='model directory (config.json + model.safetensors)')
    parser.add_argument('--out', required=True, help='folder for results.json, .md and PNGs')
    parser.add_argument('--kitti', metavar='ROOT', help='KITTI raw root (evaluates depth)')
    parser.add_argument('--split', metavar='FILE', help='KITTI split file (with --kitti)')
    parser.add_argument('--conditions', nargs='+', default=['day', 'night'],
                        choices=['day', 'night'], help='synthetic lighting conditions')
    parser.add_argument('--frames', type=int, default=40, help='synthetic frames per drive')
    parser.add_argument('--seed', type=int, default=1000, help='synthetic street and drive')
    parser.add_argument('--height', type=int, help='synthetic image height (default: model)')
    parser.add_argument('--width', type=int, help='synthetic image width (default: model)')
    parser.add_argument('--no-crop', action='store_true', help="skip Garg's crop")
    parser.add_argument('--no-median-scaling', action='store_true',
                        help='compare metric depth as predicted (stereo-trained models)')
    parser.add_argument('--max-depth', type=float, default=80.0, help='depth cap (m)')
    parser.add_argument('--snippet', type=int, default=5, help='frames per ATE snippet')
    parser.add_argument('--partial-tail', action='store_true',
                        help="score shortened end snippets too (Monodepth2's loop)")
    parser.add_argument('--trajectory-backend', default='builtin', choices=['builtin', 'evo'],
                        help='full-trajectory ATE/RPE implementation (evo: pip install evo)')
    parser.add_argument('--monodepth2-shift', action='store_true',
                        help='ground truth as Monodepth2 exports it: LiDAR points one pixel up '
                             'and left, Velodyne x as depth')
    parser.add_argument('--max-anchors', type=int, default=5000,
                        help='feature anchors per image pair')
    parser.add_argument('--device', help='torch device (default: cuda when available)')
    args = parser.parse_args(argv)
    if (args.kitti is None) != (args.split is None):
        parser.error('--kitti and --split go together')
    if args.trajectory_backend == 'evo' and not evo_available():
        parser.error('--trajectory-backend evo needs the evo package (pip install evo==1.38.1); '
                     'the builtin backend computes the same ATE and RPE')
    return args


def main(argv=None):
    """Run the evaluation and print the markdown tables."""
    args = parse_args(argv)
    config = EvaluationConfig(
        crop=not args.no_crop, median_scaling=not args.no_median_scaling,
        max_depth=args.max_depth, snippet_length=args.snippet, partial_tail=args.partial_tail,
        trajectory_backend=args.trajectory_backend, max_anchors=args.max_anchors,
        monodepth2_shift=args.monodepth2_shift)
    results = evaluate_model(args.model, args.out, kitti_root=args.kitti, split=args.split,
                             conditions=tuple(args.conditions), frames=args.frames,
                             seed=args.seed, height=args.height, width=args.width,
                             config=config, device=args.device)
    print(markdown_report(results))
    print(f'wrote {args.out}/results.json, results.md and '
          f'{len(results["files"]["figures"])} figures')
    return 0


if __name__ == '__main__':
    sys.exit(main())
