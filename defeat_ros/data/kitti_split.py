"""
KITTI split files: read the standard ones unchanged, and build new ones from a KITTI folder.

A split file lists one target frame a line, ``<folder> <frame> <side>``, e.g.
``2011_09_26/2011_09_26_drive_0001_sync 0000000005 l`` (frame numbers may be zero-padded or not;
side ``l`` is camera 2, ``r`` camera 3, and defaults to ``l`` when a line has only two fields;
blank lines and lines starting with ``#`` are skipped). Odometry splits name the sequence by
number (``8 1022 l``); see :mod:`defeat_ros.data.kitti_layout` for both layouts.

The standard splits are thousands of lines and are not shipped here; get them from their
public sources and point the loader at them as they are:

* Eigen-Zhou (``eigen_zhou/train_files.txt``, ``val_files.txt``: Zhou et al.'s SfMLearner
  training frames without the Eigen test scenes, static frames removed) and Eigen
  (``eigen/test_files.txt``: the 697 test frames of Eigen et al. 2014, plus
  ``eigen_full``, ``eigen_benchmark``): the ``splits/`` folder of the Monodepth2 repository
  (github.com/nianticlabs/monodepth2), in exactly this format;
* odometry (``odom/train_files.txt``, ``odom/test_files_09.txt``, ``test_files_10.txt``):
  the same folder; they address the KITTI odometry benchmark's ``sequences/<NN>`` layout.

Split entries whose target or neighbouring frames are missing on disk are dropped by the
dataset (and listed in ``dataset.dropped``), so a split can be used with a partial download.
:func:`build_split` lists every frame of a KITTI folder that has its neighbours, and
``python -m defeat_ros.data.kitti_split ROOT OUT`` writes it as a split file.
"""

import argparse
from dataclasses import dataclass
from pathlib import Path

from defeat_ros.data.frame_windows import check_offsets
from defeat_ros.data.kitti_calib import RAW_CAMERAS
from defeat_ros.data.kitti_layout import find_drives, is_odometry_folder, KittiDrive


@dataclass(frozen=True)
class SplitEntry:
    """One split-file line: a drive folder, a frame number and a side."""

    folder: str
    """``<date>/<drive>`` for KITTI raw, a sequence number for KITTI odometry."""
    frame: int
    """The target frame's number."""
    side: str = 'l'
    """``l`` (camera 2) or ``r`` (camera 3)."""

    def line(self):
        """Format the entry as a split-file line; raw frame numbers get 10 digits."""
        frame = str(self.frame) if is_odometry_folder(self.folder) else f'{self.frame:010d}'
        return f'{self.folder} {frame} {self.side}'


def parse_split_line(line, where='split'):
    """
    Parse one split-file line.

    :param line: ``<folder> <frame> [<side>]``.
    :param where: file and line number, for messages.
    :return: a :class:`SplitEntry`.
    :raises ValueError: naming ``where`` for a malformed line.
    """
    fields = line.split()
    side = fields[2] if len(fields) == 3 else 'l'
    if len(fields) not in (2, 3) or not fields[1].isdigit() or side not in RAW_CAMERAS:
        raise ValueError(f'{where}: expected "<folder> <frame> <l|r>", got {line.strip()!r}')
    return SplitEntry(fields[0].strip('/'), int(fields[1]), side)


def read_split(path):
    """
    Read a split file in the standard format.

    :param path: the split file.
    :return: list of :class:`SplitEntry`, in file order.
    """
    entries = []
    with open(path) as stream:
        for number, line in enumerate(stream, 1):
            if line.strip() and not line.lstrip().startswith('#'):
                entries.append(parse_split_line(line, f'{path}:{number}'))
    return entries


def write_split(path, entries):
    """Write entries as a split file, one line each; return the path."""
    path = Path(path)
    path.write_text(''.join(entry.line() + '\n' for entry in entries))
    return path


def build_split(root, offsets=(-1, 1), sides='l', image_format='auto', max_gap_s=0.0):
    """
    List every frame under a KITTI root whose source frames at ``offsets`` exist.

    :param root: a KITTI raw root (date folders) or odometry root (``sequences``).
    :param offsets: the source offsets the split is for.
    :param sides: which cameras, a string of ``l`` and ``r``.
    :param image_format: ``'auto'``, ``'png'`` or ``'jpg'``.
    :param max_gap_s: also drop frames whose window spans a larger gap in the timestamps.
    :return: list of :class:`SplitEntry`, by folder, side and frame.
    """
    offsets = check_offsets(offsets)
    entries = []
    for folder in find_drives(root):
        for side in sides:
            drive = KittiDrive(root, folder, side, image_format, max_gap_s=max_gap_s)
            entries += [SplitEntry(folder, int(frame), side)
                        for frame in drive.valid_targets(offsets)]
    return entries


def main(argv=None):
    """Write the split file of every frame with neighbours under a KITTI root."""
    parser = argparse.ArgumentParser(prog='python -m defeat_ros.data.kitti_split',
                                     description=main.__doc__)
    parser.add_argument('root', help='KITTI raw root (date folders) or odometry root')
    parser.add_argument('out', help='split file to write')
    parser.add_argument('--offsets', type=int, nargs='+', default=[-1, 1],
                        help='source frame offsets (default: -1 1)')
    parser.add_argument('--sides', default='l', help='cameras: l, r or lr (default: l)')
    parser.add_argument('--image-format', default='auto', choices=('auto', 'png', 'jpg'))
    args = parser.parse_args(argv)
    entries = build_split(args.root, args.offsets, args.sides, args.image_format)
    write_split(args.out, entries)
    print(f'wrote {len(entries)} frames to {args.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
