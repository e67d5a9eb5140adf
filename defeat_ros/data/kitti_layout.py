"""
Where a KITTI drive keeps its frames, calibration, timestamps and ground truth.

Split files name a drive by a folder and a side (``l``: camera 2, ``r``: camera 3). Two
layouts are read unchanged:

* KITTI raw (a folder like ``2011_09_26/2011_09_26_drive_0001_sync``), as downloaded and as
  :mod:`defeat_ros.data.kitti_writer` writes it::

      <root>/<date>/calib_cam_to_cam.txt                  P_rect_0X, S_rect_0X
      <root>/<date>/<drive>/image_0X/data/<10 digits>.png (or .jpg, as Monodepth2 converts)
      <root>/<date>/<drive>/image_0X/timestamps.txt       one line per frame
      <root>/<date>/<drive>/proj_depth/groundtruth/image_0X/<10 digits>.png   (optional)
      <root>/<date>/<drive>/semantic/image_0X/<10 digits>.png  uint8 labels  (optional)
      <root>/<date>/<drive>/oxts/data/<10 digits>.txt     GPS/INS packets        (optional)
      <root>/<date>/<drive>/oxts/timestamps.txt           one line per packet

  Ground truth of the KITTI depth benchmark (``data_depth_annotated``) is found in the drive
  folder, or under a separate ``depth_root`` as the benchmark ships it:
  ``<depth_root>/{train,val}/<drive>/proj_depth/groundtruth/image_0X/<10 digits>.png``.

* KITTI odometry (a folder that is a sequence number, ``8`` or ``08``, as in Monodepth2's
  ``odom`` splits)::

      <root>/sequences/<NN>/image_X/<6 digits>.png        (or .jpg)
      <root>/sequences/<NN>/calib.txt                     P2, P3
      <root>/sequences/<NN>/times.txt                     seconds, one line per frame

The vehicle's speed at each frame (``FrameSource.speeds``, for velocity supervision) comes from
the oxts packets (see :mod:`defeat_ros.data.kitti_oxts`) when asked for: each packet's speed at
the time on its line of ``oxts/timestamps.txt`` (empty lines: packets lost, skipped),
interpolated linearly to the frame times. Frames outside the packets' time span, or between
packets more than ``max_gap_s`` apart, have no speed (NaN); a drive without packets (odometry
sequences, drives downloaded without oxts) has none (None).

Frames must be the calibrated images or pure resizes of them (see
:mod:`defeat_ros.data.kitti_calib`): the first frame is checked when the drive is opened,
every frame when it is read; a crop or an aspect-changing resize raises a ValueError.

Class labels (``FrameSource.labels``, the samples' ``labels``) of raw drives are the uint8
Cityscapes label-file ids of ``semantic/image_0X/<10 digits>.png`` in the drive folder, as
:mod:`defeat_ros.data.kitti_writer` writes them (any size with the frame's aspect ratio); frames
without such a file, and odometry sequences, have none (IGNORE). Not read yet (future work):
KITTI-STEP's panoptic maps (``<step_root>/panoptic_maps/{train,val}/<4-digit sequence>/<6
digits>.png``, train ids in the red channel). Their sequences are KITTI *tracking* sequences,
which are parts of raw drives starting at a raw frame of their own; using them needs the
tracking-to-raw table (drive and first frame per sequence) that KITTI's tracking devkit ships,
then ``label_ids(red channel)`` of STEP frame ``raw index - first frame``.
"""

from datetime import datetime, timezone
import os
from pathlib import Path

from defeat_ros.data.frame_windows import check_increasing
from defeat_ros.data.image_ops import read_kitti_depth, read_labels, read_rgb
from defeat_ros.data.kitti_calib import (calibrated_intrinsics, check_image_size, projection,
                                         raw_camera_projection, RAW_CAMERAS, read_calib_file)
from defeat_ros.data.kitti_oxts import packet_speeds, read_oxts_packets
from defeat_ros.data.sequence_dataset import FrameSource
from defeat_ros.data.travel import speeds_at
import numpy as np

IMAGE_FORMATS = ('auto', 'png', 'jpg')
"""Which image files count as frames: either (PNG preferred), or only one kind."""

OXTS_SPEED_SOURCE = 'KITTI oxts'
"""The ``speed_source`` of drives whose speeds come from their oxts packets."""


def is_odometry_folder(folder):
    """Whether a split-file folder names a KITTI odometry sequence (a number)."""
    return str(folder).isdigit()


def parse_raw_timestamp(text):
    """Return seconds since the epoch (UTC) of a KITTI 'YYYY-MM-DD HH:MM:SS.nnnnnnnnn' line."""
    whole, _, fraction = text.strip().partition('.')
    moment = datetime.strptime(whole, '%Y-%m-%d %H:%M:%S').replace(tzinfo=timezone.utc)
    return moment.timestamp() + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def nanoseconds(seconds):
    """Convert float times in seconds to int64 nanoseconds, rounded."""
    return np.round(np.asarray(seconds, dtype=np.float64) * 1e9).astype(np.int64)


def list_frames(folder, digits, image_format):
    """
    Find the frame files of an image folder.

    :param folder: the folder (may be missing: no frames).
    :param digits: the zero-padded width of frame numbers in file names.
    :param image_format: one of :data:`IMAGE_FORMATS`.
    :return: dict from frame number to file name (PNG preferred over JPEG under 'auto').
    """
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f'image_format must be one of {IMAGE_FORMATS}, got {image_format!r}')
    wanted = ('png', 'jpg') if image_format == 'auto' else (image_format,)
    files = {}
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except FileNotFoundError:
        return files
    for entry in entries:
        stem, _, extension = entry.name.partition('.')
        if extension in wanted and len(stem) == digits and stem.isdigit():
            number = int(stem)
            if number not in files or extension == wanted[0]:
                files[number] = entry.name
    return files


class KittiDrive(FrameSource):
    """
    One camera of one KITTI raw drive or odometry sequence as a frame source.

    :param root: the dataset root (raw: holds the date folders; odometry: holds ``sequences``).
    :param folder: the split-file folder (``2011_09_26/2011_09_26_drive_0001_sync`` or ``8``).
    :param side: ``'l'`` (camera 2) or ``'r'`` (camera 3).
    :param image_format: one of :data:`IMAGE_FORMATS`.
    :param depth: load ground-truth depth (raw drives only; frames without it read as 0).
    :param depth_root: where the depth benchmark's ``train``/``val`` folders are ('' : none).
    :param max_gap_s: largest time between consecutive frames of a sample, and between the
        oxts packets a frame's speed is interpolated from (0: no check).
    :param oxts_speeds: read the vehicle's speed at each frame from the oxts packets.
    """

    def __init__(self, root, folder, side='l', image_format='auto', depth=False, depth_root='',
                 max_gap_s=0.0, oxts_speeds=False):
        """Find the drive's frames and read its calibration and timestamps."""
        if side not in RAW_CAMERAS:
            raise ValueError(f'side must be one of {sorted(RAW_CAMERAS)}, got {side!r}')
        self.root = Path(root)
        self.folder = str(folder)
        self.side = side
        self.camera = RAW_CAMERAS[side]
        self.odometry = is_odometry_folder(folder)
        self.name = f'{self.folder} {side}'
        self.max_gap_s = float(max_gap_s)
        if self.odometry:
            self.drive_dir = self.root / 'sequences' / f'{int(folder):02d}'
            self.image_dir = self.drive_dir / f'image_{self.camera}'
            self.digits = 6
        else:
            self.drive_dir = self.root / self.folder
            self.image_dir = self.drive_dir / f'image_{self.camera:02d}' / 'data'
            self.digits = 10
        self.files = list_frames(self.image_dir, self.digits, image_format)
        self.count = max(self.files) + 1 if self.files else 0
        self.present = np.zeros(self.count, dtype=bool)
        self.present[list(self.files)] = True
        if self.count:
            self.calib_path = (self.drive_dir / 'calib.txt' if self.odometry else
                               self.drive_dir.parent / 'calib_cam_to_cam.txt')
            self.k_norm, self.size = self.read_intrinsics()  # size: calibrated (w, h)
            self.stamps = self.read_stamps()
        if oxts_speeds and self.stamps is not None and not self.odometry:
            self.speeds = self.read_speeds()
            self.speed_source = OXTS_SPEED_SOURCE
        self.has_depth = bool(depth)
        if self.has_depth and self.odometry:
            raise ValueError(f'KITTI odometry sequence {folder} has no depth ground truth; '
                             'set depth to false')
        self.depth_dir = self.find_depth_dir(depth_root) if self.has_depth else None
        self.label_dir = (None if self.odometry else
                          self.drive_dir / 'semantic' / f'image_{self.camera:02d}')
        """Folder of the drive's label PNGs (None: odometry, no labels)."""
        self.has_labels = self.label_dir is not None and self.label_dir.is_dir()

    def image_path(self, index):
        """Return the image file of frame ``index``."""
        return self.image_dir / self.files[index]

    def read_intrinsics(self):
        """
        Return the drive's normalised intrinsics and calibrated size, checking the first frame.

        :return: (3 x 3 float32 normalised intrinsics, calibrated (width, height)).
        :raises ValueError: when the first frame is not the calibrated image or a pure resize
            of it (see :func:`~defeat_ros.data.kitti_calib.calibrated_intrinsics`).
        """
        first = self.image_path(int(np.flatnonzero(self.present)[0]))
        path = self.calib_path
        if not path.is_file():
            raise FileNotFoundError(f'{path} is missing: KITTI calibration of {self.folder}')
        if self.odometry:
            matrix, stated = projection(read_calib_file(path), f'P{self.camera}', path), None
        else:
            matrix, stated = raw_camera_projection(path, self.camera)
        return calibrated_intrinsics(matrix, stated, read_rgb(first).shape[1::-1], first, path)

    def read_stamps(self):
        """Return F float64 capture times (s), or None without a complete timestamps file."""
        if self.odometry:
            path = self.drive_dir / 'times.txt'
            parse = float
        else:
            path = self.drive_dir / f'image_{self.camera:02d}' / 'timestamps.txt'
            parse = parse_raw_timestamp
        if not path.is_file():
            return None
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        if len(lines) < self.count:
            return None
        return np.array([parse(line) for line in lines[:self.count]], dtype=np.float64)

    def read_speeds(self):
        """
        Return the vehicle's speed at each frame from the oxts packets (see the module docs).

        :return: F float64 m/s (NaN where unknown), or None when the drive has no packets.
        :raises ValueError: naming the file of a malformed packet, of a timestamps file that
            misses packets, or of packet times that do not increase.
        """
        oxts = self.drive_dir / 'oxts'
        packets = read_oxts_packets(oxts / 'data')
        if packets is None:
            return None
        numbers, packets = packets
        path = oxts / 'timestamps.txt'
        lines = path.read_text().splitlines() if path.is_file() else []
        if len(lines) <= numbers[-1]:
            raise ValueError(f'{path} lists {len(lines)} times but {oxts / "data"} holds packet '
                             f'{numbers[-1]}: one line per packet expected')
        times = np.array([parse_raw_timestamp(lines[number]) if lines[number].strip()
                          else np.nan for number in numbers], dtype=np.float64)
        known = np.isfinite(times)
        check_increasing(times[known], f'oxts packets of {self.folder} ({path})')
        return speeds_at(nanoseconds(times[known]), packet_speeds(packets[known]),
                         nanoseconds(self.stamps), self.max_gap_s * 1e9 or np.inf)

    def find_depth_dir(self, depth_root):
        """Return the folder of the drive's ground-truth depth PNGs (may not exist)."""
        inside = self.drive_dir / 'proj_depth' / 'groundtruth' / f'image_{self.camera:02d}'
        if inside.is_dir() or not depth_root:
            return inside
        drive = Path(self.folder).name
        for part in ('train', 'val', ''):
            candidate = (Path(depth_root) / part / drive / 'proj_depth' / 'groundtruth' /
                         f'image_{self.camera:02d}')
            if candidate.is_dir():
                return candidate
        return inside

    def image(self, index):
        """
        Return frame ``index`` as RGB uint8 H x W x 3.

        :raises ValueError: when it is not the calibrated size or a pure resize of it.
        """
        path = self.image_path(index)
        image = read_rgb(path)
        check_image_size(image.shape[1::-1], self.size, path, self.calib_path)
        return image

    def depth(self, index):
        """Return the ground truth of frame ``index`` in metres (all 0 when it has none)."""
        path = self.depth_dir / f'{index:010d}.png'
        if path.is_file():
            return read_kitti_depth(path)
        return np.zeros(self.size[::-1], dtype=np.float32)

    def labels(self, index):
        """Return the label-file ids of frame ``index`` (uint8 H x W), or None without a file."""
        if not self.has_labels:
            return None
        path = self.label_dir / f'{index:010d}.png'
        return read_labels(path) if path.is_file() else None

    def frame_name(self, index):
        """Return the split-file line of frame ``index``."""
        frame = str(index) if self.odometry else f'{index:010d}'
        return f'{self.folder} {frame} {self.side}'


def find_drives(root):
    """
    List the split-file folders of every drive under a KITTI root.

    :param root: a KITTI raw root (date folders) or odometry root (with ``sequences``).
    :return: sorted folders: ``<date>/<drive>`` for raw drives, sequence numbers as two-digit
        strings for odometry sequences.
    """
    root = Path(root)
    raw = sorted(f'{drive.parent.name}/{drive.name}' for drive in root.glob('*/*_drive_*_sync')
                 if drive.is_dir())
    odometry = sorted(path.name for path in (root / 'sequences').glob('*')
                      if path.is_dir() and path.name.isdigit())
    return raw + odometry
