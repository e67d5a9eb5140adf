"""``defeat-ros synth``: render synthetic drives and write them as KITTI folders and bags."""

from pathlib import Path
import time

from defeat_ros.data.kitti_writer import write_kitti_raw
from defeat_ros.data.sequence_bag import write_bag
from defeat_ros.data.street_world import render_sequence, WorldConfig

FORMATS = ('kitti', 'bag')


def run_synth(out, config, conditions=('day',), formats=FORMATS, storage='mcap',
              image_transport='raw', log=print):
    """
    Render one drive per condition ('day', 'night') and write it in each format.

    Layout: ``out/<condition>/kitti/`` (KITTI raw) and ``out/<condition>/bag/`` (rosbag2).
    Day and night share the seed, so they are the same drive. Returns {condition: seconds}.
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f'unknown formats {unknown}; choose from {list(FORMATS)}')
    out = Path(out)
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
        if 'bag' in formats:
            bag = write_bag(sequence, out / condition / 'bag', storage=storage,
                            image_transport=image_transport, depth=True)
            log(f'{condition}: rosbag2 ({storage}) {bag}')
    return timings
