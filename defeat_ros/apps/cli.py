"""The ``defeat-ros`` command: one entry point with a subcommand per workflow."""

import argparse
import sys


def add_demo(subparsers):
    """``defeat-ros demo``: day and night drives through the ROS 2 node graph, measured."""
    parser = subparsers.add_parser(
        'demo', help='play synthetic day and night drives through the ROS 2 node graph')
    parser.add_argument('--out', default='demo_output', help='output directory')
    parser.add_argument('--model', default='', help='model directory (default: the default model)')
    parser.add_argument('--backend', default='auto', help='auto, onnxruntime, pytorch, tensorrt')
    parser.add_argument('--frames', type=int, default=80, help='frames per drive')
    parser.add_argument('--height', type=int, default=192, help='camera image height')
    parser.add_argument('--width', type=int, default=640, help='camera image width')
    parser.add_argument('--rate', type=float, default=0.5, help='playback speed factor')
    parser.add_argument('--seed', type=int, default=7, help='street and drive of the demo')

    def run(args):
        from defeat_ros.apps.demo import run_demo
        run_demo(args.out, args.model, args.backend, args.frames, args.height, args.width,
                 args.rate, args.seed)
    parser.set_defaults(run=run)


def add_synth(subparsers):
    """``defeat-ros synth``: render a synthetic drive with exact ground truth."""
    parser = subparsers.add_parser(
        'synth', help='render a synthetic drive (day, night or both) as KITTI folders and bags')
    parser.add_argument('--out', required=True, help='output directory')
    parser.add_argument('--frames', type=int, default=50, help='number of frames')
    parser.add_argument('--width', type=int, default=640, help='image width')
    parser.add_argument('--height', type=int, default=192, help='image height')
    parser.add_argument('--fps', type=float, default=10.0, help='frame rate (Hz)')
    parser.add_argument('--seed', type=int, default=0, help='seed of street, drive and noise')
    condition = parser.add_mutually_exclusive_group()
    condition.add_argument('--night', action='store_true', help='render the night drive only')
    condition.add_argument('--paired', action='store_true',
                           help='render the same drive by day and by night')
    parser.add_argument('--format', default='kitti,bag',
                        help='comma-separated outputs: kitti, bag (default both)')
    parser.add_argument('--storage', choices=['mcap', 'sqlite3'], default='mcap',
                        help='rosbag2 storage plugin')
    parser.add_argument('--image-transport', choices=['raw', 'compressed', 'both'],
                        default='raw', help='Image, CompressedImage (JPEG) or both in the bag')
    parser.add_argument('--motion-blur', type=int, default=0,
                        help='sub-frames averaged over the exposure (0: none)')
    parser.add_argument('--moving-cars', type=int, default=4, help='number of moving cars')
    parser.add_argument('--intrinsics', default='0.58,1.92,0.5,0.5',
                        help='fx,fy,cx,cy normalised by image size (default: KITTI-like)')

    def run(args):
        from defeat_ros.data.street_world import WorldConfig
        from defeat_ros.apps.synth import run_synth
        try:
            fx, fy, cx, cy = (float(v) for v in args.intrinsics.split(','))
        except ValueError:
            raise ValueError(f'--intrinsics needs four numbers fx,fy,cx,cy, '
                             f'got {args.intrinsics!r}') from None
        config = WorldConfig(width=args.width, height=args.height, frames=args.frames,
                             fps=args.fps, seed=args.seed, motion_blur=args.motion_blur,
                             moving_cars=args.moving_cars, fx=fx, fy=fy, cx=cx, cy=cy)
        conditions = ('day', 'night') if args.paired else ('night',) if args.night else ('day',)
        run_synth(args.out, config, conditions, args.format.split(','), args.storage,
                  args.image_transport)
    parser.set_defaults(run=run)


def add_export(subparsers):
    """``defeat-ros export``: ONNX files (and int8 versions) beside a model's weights."""
    parser = subparsers.add_parser('export', help='export a model directory to ONNX')
    parser.add_argument('model', help='model directory (config.json + model.safetensors)')
    parser.add_argument('--int8', action='store_true',
                        help='also write int8 ONNX Runtime graphs calibrated on frames')
    parser.add_argument('--calibration-images', default=None,
                        help='folder of PNG/JPEG frames from the deployment camera for int8 '
                             'calibration (default: synthetic street frames, day and night)')
    parser.add_argument('--calibration-frames', type=int, default=16,
                        help='number of calibration frames')

    def run(args):
        from defeat_ros.runtime.calibration import calibration_frames
        from defeat_ros.runtime.onnx_export import export_onnx
        from defeat_ros.runtime.quantise import quantise_onnx
        for graph, path in export_onnx(args.model).items():
            print(f'{graph}: {path}')
        if args.int8:
            frames = calibration_frames(args.model, args.calibration_frames,
                                        args.calibration_images)
            for graph, path in quantise_onnx(args.model, frames).items():
                print(f'{graph} (int8): {path}')
    parser.set_defaults(run=run)


def add_benchmark(subparsers):
    """``defeat-ros benchmark``: latency per backend, network and resolution, side by side."""
    parser = subparsers.add_parser('benchmark', help='measure inference latency per backend')
    parser.add_argument('--model', default=None,
                        help='model directory (default: a fresh model per resolution)')
    parser.add_argument('--resolutions', default='640x192,480x352',
                        help='comma-separated WIDTHxHEIGHT list (without --model)')
    parser.add_argument('--backends', default=None,
                        help='comma-separated; the first is the reference (default: the CPU '
                             'list, or the CUDA list on a GPU)')
    parser.add_argument('--repeats', type=int, default=10, help='timed runs per measurement')
    parser.add_argument('--threads', type=int, default=0, help='ONNX Runtime threads (0: auto)')

    def run(args):
        import torch
        from defeat_ros.apps.benchmark import BACKENDS, CPU_DEFAULT, GPU_DEFAULT, run_benchmark
        default = GPU_DEFAULT if torch.cuda.is_available() else CPU_DEFAULT
        names = tuple(args.backends.split(',')) if args.backends else default
        unknown = sorted(set(names) - set(BACKENDS))
        if unknown:
            raise ValueError(f'unknown backends {unknown}; choose from {sorted(BACKENDS)}')
        try:
            resolutions = [tuple(int(v) for v in r.split('x'))[::-1]
                           for r in args.resolutions.split(',')]
        except ValueError:
            raise ValueError(f'--resolutions must look like 640x192,480x352, '
                             f'got {args.resolutions!r}') from None
        run_benchmark(resolutions, args.model, names, args.repeats, threads=args.threads)
    parser.set_defaults(run=run)


def add_finetune(subparsers):
    """``defeat-ros finetune``: self-supervised fine-tuning of a model on rosbag2 recordings."""
    parser = subparsers.add_parser(
        'finetune', help='fine-tune a model on bags (self-supervised) and write a new model')
    parser.add_argument('--bag', dest='bags', action='append', required=True, metavar='BAG',
                        help='rosbag2 recording with a camera (repeatable)')
    parser.add_argument('--from', dest='source', required=True, metavar='MODEL',
                        help='model directory to start from')
    parser.add_argument('--out', required=True, metavar='MODEL',
                        help='new model directory (must not exist)')
    parser.add_argument('--steps', type=int, default=200, help='optimisation steps')
    parser.add_argument('--batch-size', type=int, default=4, help='frame triplets per step')
    parser.add_argument('--learning-rate', type=float, default=5e-5, help='Adam learning rate')
    parser.add_argument('--height', type=int, default=0,
                        help="training height (multiple of 32; default: the source model's)")
    parser.add_argument('--width', type=int, default=0,
                        help="training width (multiple of 32; default: the source model's)")
    parser.add_argument('--workers', type=int, default=0, help='data-loading processes')
    parser.add_argument('--static-threshold', type=float, default=None,
                        help='skip frames whose thumbnail differs less than this (mean absolute '
                             'RGB in [0, 1]) from a neighbour: a standing camera; 0 keeps all '
                             '(default and details: defeat_ros/data/frame_selection.py)')
    parser.add_argument('--balance-lighting', action='store_true',
                        help='draw night frames (dark: low mean luma) and day frames equally '
                             'often')
    parser.add_argument('--held-out', type=float, default=0.1,
                        help='fraction of each bag, at its end, measured but never trained on')
    parser.add_argument('--image-topic', default='',
                        help="image topic (default: the bag's only colour image topic)")
    parser.add_argument('--depth-topic', default='',
                        help='ground-truth depth topic: also report depth metrics')
    parser.add_argument('--seed', type=int, default=0, help='seed of sampling and augmentation')

    def run(args):
        from defeat_ros.trainer.finetune import FinetuneConfig, run_finetune
        options = {name: value for name, value in vars(args).items()
                   if name not in ('command', 'run') and value is not None}
        run_finetune(FinetuneConfig(**options))
    parser.set_defaults(run=run)


def add_process_bag(subparsers):
    """``defeat-ros process-bag``: the node's outputs for every frame of a bag, into a new bag."""
    parser = subparsers.add_parser(
        'process-bag', help='run depth, features and odometry over a rosbag2 recording, as fast '
                            'as the machine allows, and write the results into a new bag')
    parser.add_argument('input', help='rosbag2 recording (directory, or one .mcap/.db3 file)')
    parser.add_argument('output', help='bag directory to write (must not exist)')
    parser.add_argument('--model', default='', help='model directory (default: the default model)')
    parser.add_argument('--backend', default='auto',
                        help='auto, onnxruntime, pytorch or tensorrt (default: auto)')
    parser.add_argument('--device', default='auto', help='auto, cpu, cuda or cuda:<index>')
    parser.add_argument('--precision', default='fp32', help='fp32, fp16, bf16 or int8')
    parser.add_argument('--storage', choices=['mcap', 'sqlite3'], default='mcap',
                        help='storage of the output bag (default: mcap)')
    parser.add_argument('--image-topic', default='',
                        help="Image or CompressedImage topic (default: the bag's only colour "
                             'image topic)')
    parser.add_argument('--camera-info-topic', default='',
                        help='CameraInfo topic (default: the one beside the image topic)')
    parser.add_argument('--intrinsics', default='',
                        help='fx,fy,cx,cy normalised by image size, for bags without CameraInfo')
    parser.add_argument('--namespace', default='',
                        help="namespace of the output topics (default: the image topic's, e.g. "
                             '/camera for /camera/image_raw; / for none)')
    parser.add_argument('--outputs', default='depth,depth/camera_info,features/visual,odometry,'
                        'points', help='comma-separated output topics, of: depth, '
                        'depth/camera_info, features, features/visual, depth/visual, odometry, '
                        'points (default: %(default)s)')
    parser.add_argument('--output-resolution', choices=['input', 'model'], default='input',
                        help="size of depth and features: each image's or the network's")
    parser.add_argument('--no-copy', dest='copy_input', action='store_false',
                        help='do not copy the input topics into the output bag')
    parser.add_argument('--point-stride', type=int, default=4,
                        help='keep every n-th pixel in both directions for points')
    parser.add_argument('--max-gap', dest='max_gap_s', type=float, default=0.5,
                        help='a gap between frames longer than this (s) restarts odometry')
    parser.add_argument('--scale-mode', choices=['model', 'camera_height'], default='model',
                        help='metric scale from the model or from the camera height')
    parser.add_argument('--camera-height', type=float, default=1.65,
                        help='camera height above the ground (m), for --scale-mode camera_height')
    parser.add_argument('--odom-frame', default='odom', help='fixed frame of the odometry')
    parser.add_argument('--base-frame', default='base_link', help='body frame of the odometry')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')

    def run(args):
        from defeat_ros.camera.bag_processing import PartialBagError, process_bag, ProcessConfig
        from defeat_ros.camera.bag_processing import Progress
        options = {name: value for name, value in vars(args).items()
                   if name not in ('command', 'run', 'input', 'output', 'quiet')}
        try:
            report = process_bag(args.input, args.output, ProcessConfig(**options),
                                 progress=None if args.quiet else Progress())
        except PartialBagError as error:
            print(error.report.summary())
            raise
        print(report.summary())
    parser.set_defaults(run=run)


def main(argv=None):
    """Parse ``argv`` and run the chosen subcommand; returns the process exit code."""
    parser = argparse.ArgumentParser(prog='defeat-ros', description=__doc__)
    subparsers = parser.add_subparsers(dest='command', required=True)
    add_demo(subparsers)
    add_synth(subparsers)
    add_export(subparsers)
    add_benchmark(subparsers)
    add_process_bag(subparsers)
    add_finetune(subparsers)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f'defeat-ros {args.command}: error: {error}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
