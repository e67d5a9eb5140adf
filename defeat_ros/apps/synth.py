"""
``defeat-ros synth``: render synthetic drives and write them as KITTI folders and bags.

Formats: ``kitti`` (KITTI raw drive with depth, oxts and poses), ``kitti_odometry`` (KITTI
odometry sequence 09 with ``poses/09.txt``, for ``defeat-ros evaluate --kitti-odometry``),
``robotcar`` (a RobotCar run with the SDK's models and extrinsics, VO, INS and laser scans, for
``--robotcar-day``/``--robotcar-night``) and ``bag`` (rosbag2 with camera, depth and wheel
odometry), each under ``out/<condition>/<format>``.
"""

from dataclasses import dataclass
from pathlib import Path
import time

from defeat_ros.apps.arguments import add_options, config_from_args
from defeat_ros.bags.writer import STORAGES
from defeat_ros.data.kitti_odometry import write_kitti_odometry
from defeat_ros.data.kitti_writer import write_kitti_raw
from defeat_ros.data.robotcar_writer import write_robotcar_run
from defeat_ros.data.sequence_bag import IMAGE_TRANSPORTS, write_bag
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.data.wheel_speed import WheelOdometryConfig
from defeat_ros.typed_config import comma_list, option, TypedConfig

FORMATS = ('kitti', 'kitti_odometry', 'robotcar', 'bag')
"""What synth can write; each goes to ``out/<condition>/<format>``."""

DEFAULT_FORMATS = ('kitti', 'bag')
"""What synth writes unless --format says otherwise."""

ODOMETRY_SEQUENCE = 9
"""The KITTI odometry sequence number synth writes (09: the published pose protocol's)."""


@dataclass
class SynthConfig(TypedConfig):
    """Which drives ``defeat-ros synth`` renders and how it writes them."""

    out: str = option('', 'Output directory', required=True)
    frames: int = option(50, 'Number of frames', minimum=1, maximum=1000000)
    width: int = option(640, 'Image width', minimum=16, maximum=7680)
    height: int = option(192, 'Image height', minimum=16, maximum=4320)
    fps: float = option(10.0, 'Frame rate (Hz)', minimum=0.1, maximum=1000.0)
    seed: int = option(0, 'Seed of street, drive and noise')
    night: bool = option(False, 'Render the night drive only')
    paired: bool = option(False, 'Render the same drive by day and by night')
    formats: list = option(list(DEFAULT_FORMATS), 'Outputs (comma-separated): '
                           + ', '.join(FORMATS), flag='--format')
    storage: str = option('mcap', 'rosbag2 storage plugin', choices=tuple(STORAGES))
    image_transport: str = option('raw', 'Image, CompressedImage (JPEG) or both in the bag',
                                  choices=IMAGE_TRANSPORTS)
    motion_blur: int = option(0, 'Sub-frames averaged over the exposure (0: none)', minimum=0,
                              maximum=64)
    moving_cars: int = option(4, 'Number of moving cars', minimum=0, maximum=100)
    intrinsics: list = option([0.58, 1.92, 0.5, 0.5], 'fx,fy,cx,cy normalised by image size '
                              '(KITTI-like)')

    def __post_init__(self):
        """Read comma-separated lists; check the options and that night and paired exclude."""
        self.formats = comma_list(self.formats, name='formats')
        self.intrinsics = comma_list(self.intrinsics, float, 'intrinsics')
        if len(self.intrinsics) != 4:
            raise ValueError(f'intrinsics needs four numbers fx,fy,cx,cy, got {self.intrinsics}')
        if self.night and self.paired:
            raise ValueError('choose --night or --paired, not both')
        self.check_options()


def run_synth(out, config, conditions=('day',), formats=DEFAULT_FORMATS, storage='mcap',
              image_transport='raw', log=print):
    """
    Render one drive per condition ('day', 'night') and write it in each format.

    Layout: ``out/<condition>/<format>/``: ``kitti`` (KITTI raw), ``kitti_odometry``
    (sequence :data:`ODOMETRY_SEQUENCE`), ``robotcar`` (a run, its models and extrinsics) and
    ``bag`` (rosbag2).
    Day and night share the seed, so they are the same drive. Returns {condition: seconds}.
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f'unknown formats {unknown}; choose from {list(FORMATS)}')
    out = Path(out)
    taken = [out / condition / name for condition in conditions for name in formats
             if (out / condition / name).exists()]
    if taken:
        raise FileExistsError(f'--out {out}: {taken[0]} exists already; choose a new folder '
                              f'(nothing was rendered)')
    timings = {}
    for condition in conditions:
        cfg = WorldConfig.from_dict({**config.to_dict(), 'night': condition == 'night'})
        start = time.perf_counter()
        sequence = render_sequence(cfg)
        seconds = time.perf_counter() - start
        timings[condition] = seconds
        log(f'{condition}: rendered {cfg.frames} frames at {cfg.width}x{cfg.height} in '
            f'{seconds:.1f} s ({cfg.frames / seconds:.1f} frames/s)')
        if 'kitti' in formats:
            drive = write_kitti_raw(sequence, out / condition / 'kitti')
            log(f'{condition}: KITTI raw folder {drive}')
        if 'kitti_odometry' in formats:
            folder = write_kitti_odometry(sequence, out / condition / 'kitti_odometry',
                                          ODOMETRY_SEQUENCE)
            log(f'{condition}: KITTI odometry sequence {folder}')
        if 'robotcar' in formats:
            run = write_robotcar_run(sequence, out / condition / 'robotcar')
            log(f'{condition}: RobotCar run, images {run.folder}, models {run.models_dir}')
        if 'bag' in formats:
            bag = write_bag(sequence, out / condition / 'bag', storage=storage,
                            image_transport=image_transport, depth=True, labels=True,
                            wheel_config=WheelOdometryConfig(seed=cfg.seed))
            log(f'{condition}: rosbag2 ({storage}) {bag}')
    return timings


def add_arguments(parser):
    """Add the options of ``defeat-ros synth`` (those of SynthConfig)."""
    add_options(parser, SynthConfig)


def run(args):
    """Run ``defeat-ros synth`` with parsed ``args``."""
    config = config_from_args(SynthConfig, args)
    fx, fy, cx, cy = config.intrinsics
    world = WorldConfig(width=config.width, height=config.height, frames=config.frames,
                        fps=config.fps, seed=config.seed, motion_blur=config.motion_blur,
                        moving_cars=config.moving_cars, fx=fx, fy=fy, cx=cx, cy=cy)
    conditions = ('day', 'night') if config.paired else \
        ('night',) if config.night else ('day',)
    run_synth(config.out, world, conditions, config.formats, config.storage,
              config.image_transport)
