"""
Oxford RobotCar image folders as training sequences, with the SDK's camera models.

A RobotCar run keeps each camera's frames in a folder of ``<timestamp>.png`` files named by
their capture time in microseconds (``<run>/stereo/centre/1418381798086398.png``). Day and night
runs are simply different folders; each folder is one sequence. Frames are ordered by
timestamp, and consecutive frames more than ``max_gap_s`` apart (dropped frames, pauses) do
not share a sample.

Images. Frames as downloaded are raw single-channel Bayer images: they are demosaiced with the
pattern the SDK's ``image.py`` uses for the camera (``gbrg`` for the Bumblebee stereo cameras,
``rggb`` for the Grasshopper mono cameras; OpenCV's ``COLOR_BayerGR2RGB`` and
``COLOR_BayerBG2RGB``, as OpenCV names a pattern by its second row) and undistorted with the
SDK's look-up table as its ``camera_model.py`` does. Three-channel frames were converted by
someone: demosaiced only (still distorted, e.g. the SDK's ``load_image`` without a model) or
demosaiced and undistorted (with a model). The SDK's undistortion keeps the image size, so
neither the size nor anything else in a frame tells the two apart. Hence ``undistort``:

- ``'auto'``: single-channel (Bayer) frames are undistorted. Three-channel frames are refused
  with a ValueError that says to set ``'always'`` or ``'never'``: when the first frame has the
  table's size (W * H = half the table's values) both are possible; when it does not, the frames
  were resized or cropped after download, so neither the table nor the model file's pixel
  intrinsics describe them (``'never'`` with a camera model for that size).
- ``'always'``: undistort every frame (the table must fit the frame size).
- ``'never'``: use the frames as they are (already undistorted).

Intrinsics come from the SDK's camera model file, ``<models_dir>/<model>.txt``: the first line
is ``fx fy cx cy`` in pixels of the undistorted image (pixel centres at integers, as OpenCV),
the remaining lines the 4 x 4 ``G_camera_image`` transform (not needed here). The model is the
one the SDK picks for the folder (``stereo/centre``: ``stereo_narrow_left``, ``stereo/left``:
``stereo_wide_left``, ``stereo/right``: ``stereo_wide_right``, ``mono_left``/``mono_right``/
``mono_rear``: the same name) unless ``camera_model`` names it. The undistortion table
``<model>_distortion_lut.bin`` holds float64 values, all x then all y, that give for every
undistorted pixel (row-major) the distorted pixel to sample bilinearly. ``crop`` removes
border pixels (e.g. the car's bonnet at the bottom) after undistortion, and the intrinsics
follow the crop.

Standing car. Frames taken while the car waits (at lights, in traffic) repeat the previous
view: a sample of them teaches depth nothing and pushes pose towards zero. With ``stationary``
on, each folder keeps its first frame and then every frame that moved at least a threshold
away from the previous *kept* frame; the others are dropped before samples are built, so a
sample's neighbours are the adjacent kept frames. The gap check then applies to the kept
frames: a wait (or a crawl slower than about ``min_motion_m / max_gap_s``) splits the sequence
there, and no sample spans it. Motion is measured

- with the run's visual odometry, ``vo/vo.csv`` (SDK format: a header, then rows
  ``source_timestamp, destination_timestamp, x, y, z, roll, pitch, yaw``, the pose of each
  stereo frame relative to the previous one, rotations ``Rz(yaw) Ry(pitch) Rx(roll)``): the
  rows are chained as the SDK's ``interpolate_vo_poses`` does, positions interpolated linearly
  to the frame times, and motion is the distance in metres (``min_motion_m``). Frames outside
  the time span of vo.csv are dropped (their motion is unknown);
- without it, from the images: the mean absolute difference of the frames' thumbnails
  (:func:`defeat_ros.data.frame_selection.thumbnail`, RGB in [0, 1]), threshold
  ``min_difference``. This reads every frame once when the dataset is built (minutes for a
  whole run; vo.csv is much cheaper).

Speed. For velocity supervision every kept frame gets the vehicle's speed at its capture time
(``FrameSource.speeds``), by ``speeds``: from the INS, ``gps/ins.csv`` of the run (or the
folder's ``ins_csv``): the norm of its north, east and down velocities (see
:mod:`defeat_ros.data.robotcar_ins`); or from the visual odometry: each vo.csv row's distance
over its time (see :mod:`defeat_ros.data.robotcar_vo`), placed at the middle of the row's two
frame times. Either series is interpolated linearly to the frame times; frames outside its
time span, or between samples more than ``max_gap_s`` apart, have no speed (NaN). 'auto'
takes the INS where its file exists, else the visual odometry, else gives no speed.
"""

from dataclasses import dataclass, field
import logging
import os
from pathlib import Path
import re

import cv2
from defeat_ros.data.frame_selection import keep_moving, STATIC_THRESHOLD, thumbnail
from defeat_ros.data.frame_windows import check_increasing
from defeat_ros.data.image_ops import Crop, opencv_to_rgb, read_unchanged
from defeat_ros.data.robotcar_ins import read_ins_speeds
from defeat_ros.data.robotcar_vo import read_vo_positions, read_vo_speeds
from defeat_ros.data.sequence_dataset import FrameSource, SequenceDataset
from defeat_ros.data.travel import speeds_at
from defeat_ros.geometry import normalise_intrinsics
from defeat_ros.messages.image_encoding import to_rgb
from defeat_ros.typed_config import TypedConfig
import numpy as np

LOG = logging.getLogger(__name__)

BAYER_PATTERNS = {'stereo': 'gbrg', 'mono': 'rggb'}
"""The SDK's Bayer pattern of each camera family (first row, then second row)."""

UNDISTORT_CHOICES = ('auto', 'always', 'never')

STATIONARY_CHOICES = ('off', 'auto', 'vo', 'image')

SPEED_CHOICES = ('auto', 'ins', 'vo', 'none')
"""Where speeds come from: the INS else the visual odometry else nowhere, one of them, none."""

SPEED_SOURCES = {'ins': 'RobotCar INS', 'vo': 'RobotCar VO'}
"""The ``speed_source`` of folders whose speeds come from each kind of file."""

CAMERA_FOLDER = re.compile('stereo|mono_(left|right|rear)')
"""Names of the camera folders of a run (``<run>/stereo/centre``, ``<run>/mono_rear``)."""


@dataclass
class RobotCarConfig(TypedConfig):
    """Which RobotCar image folders to use and how their frames are stored."""

    folders: list = field(default_factory=list)
    """Image folders (``<run>/stereo/centre``); each one sequence (day and night runs alike)."""
    models_dir: str = 'robotcar-dataset-sdk/models'
    """The SDK's ``models`` folder with the camera model files."""
    camera_model: str = ''
    """Camera model name (``stereo_narrow_left``); '' : chosen from the folder as the SDK does."""
    bayer_pattern: str = ''
    """Bayer pattern of single-channel frames (``gbrg``, ``rggb``, ...); '' : the camera's."""
    undistort: str = 'auto'
    """
    'auto': undistort single-channel (raw Bayer) frames with the SDK table and refuse
    3-channel frames (undistorted or not cannot be told; see the module docstring); 'always';
    'never' (frames already undistorted)."""
    crop: list = field(default_factory=lambda: [0, 0, 0, 0])
    """Pixels removed [top, bottom, left, right] after undistortion (intrinsics follow)."""
    max_gap_s: float = 0.2
    """
    Largest time between consecutive (kept) frames of a sample (stereo: 16 Hz), and between
    the speed samples a frame's speed is interpolated from; 0: off."""
    stationary: str = 'off'
    """
    Drop frames of a standing car (see the module docstring): 'vo' (vo.csv, which must exist),
    'image' (thumbnail difference), 'auto' (vo.csv where it exists, else 'image'), 'off'."""
    vo_csv: list = field(default_factory=list)
    """
    The visual odometry file of each folder, in the order of ``folders``; empty (or '' for a
    folder): ``<run>/vo/vo.csv``, the run being the folder above ``stereo``/``mono_*``."""
    min_motion_m: float = 0.1
    """With vo.csv: metres a frame must be from the previous kept frame to be kept."""
    min_difference: float = STATIC_THRESHOLD
    """Without vo.csv: mean absolute thumbnail difference to the previous kept frame to keep."""
    speeds: str = 'auto'
    """
    The vehicle's speed at each frame, for velocity supervision (see the module docstring):
    'ins' (ins.csv, which must exist), 'vo' (vo.csv, which must exist), 'auto' (ins.csv, else
    vo.csv, else none), 'none'."""
    ins_csv: list = field(default_factory=list)
    """
    The INS file of each folder, in the order of ``folders``; empty (or '' for a folder):
    ``<run>/gps/ins.csv``."""

    def __post_init__(self):
        """Accept one folder (and one vo.csv, ins.csv) as a string and check the choices."""
        if isinstance(self.folders, (str, os.PathLike)):
            self.folders = [self.folders]
        self.folders = [str(folder) for folder in self.folders]
        self.vo_csv = self.per_folder(self.vo_csv, 'vo_csv')
        self.ins_csv = self.per_folder(self.ins_csv, 'ins_csv')
        if self.undistort not in UNDISTORT_CHOICES:
            raise ValueError(f'undistort must be one of {UNDISTORT_CHOICES}, '
                             f'got {self.undistort!r}')
        if self.stationary not in STATIONARY_CHOICES:
            raise ValueError(f'stationary must be one of {STATIONARY_CHOICES}, '
                             f'got {self.stationary!r}')
        if self.speeds not in SPEED_CHOICES:
            raise ValueError(f'speeds must be one of {SPEED_CHOICES}, got {self.speeds!r}')
        Crop.from_list(self.crop)

    def per_folder(self, paths, name):
        """
        Return a list of files given one per folder (or none) as strings.

        :param paths: the field's value: a list, or one path ('' : none).
        :param name: the field's name, for the message.
        :raises ValueError: when the list is neither empty nor one per folder.
        """
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths] if str(paths) else []
        paths = [str(path) for path in paths]
        if paths and len(paths) != len(self.folders):
            raise ValueError(f'{name} lists {len(paths)} files for {len(self.folders)} '
                             'folders (one per folder, or none)')
        return paths


def camera_model_name(folder):
    """
    Return the SDK's camera model name for an image folder, as its ``CameraModel`` picks it.

    :param folder: e.g. ``.../2014-12-09-13-21-02/stereo/centre``.
    :raises ValueError: when the path names no RobotCar camera.
    """
    text = Path(folder).as_posix()
    camera = re.search('(stereo|mono_(left|right|rear))', text)
    if camera is None:
        raise ValueError(f'{folder}: cannot tell the RobotCar camera from the path (expected '
                         'stereo/<left|centre|right> or mono_<left|right|rear>); set camera_model')
    if camera.group(0) != 'stereo':
        return camera.group(0)
    sensor = re.search('(left|centre|right)', text[camera.end():])
    names = {'left': 'stereo_wide_left', 'right': 'stereo_wide_right',
             'centre': 'stereo_narrow_left'}
    if sensor is None:
        raise ValueError(f'{folder}: which stereo sensor (left, centre, right)? set camera_model')
    return names[sensor.group(0)]


def first_line_numbers(path):
    """Return (the words of a text file's first line, their values; [] if not all numbers)."""
    with open(path) as stream:
        first = stream.readline().split()
    try:
        return first, [float(value) for value in first]
    except ValueError:
        return first, []


def read_camera_model(path):
    """
    Read an SDK camera model file.

    :param path: ``<model>.txt``: ``fx fy cx cy`` on the first line, then ``G_camera_image``.
    :return: (fx, fy, cx, cy) in pixels (floats).
    :raises ValueError: naming the file when the first line is not four numbers.
    """
    first, values = first_line_numbers(path)
    if len(values) != 4 or values[0] <= 0 or values[1] <= 0:
        raise ValueError(f'{path}: the first line must be "fx fy cx cy" (pixels), got '
                         f'{" ".join(first)!r}')
    return tuple(values)


def read_undistortion_lut(path, height, width):
    """
    Read an SDK undistortion table as OpenCV remap maps.

    :param path: ``<model>_distortion_lut.bin`` (float64: H*W x values, then H*W y values).
    :param height: image height the table is for.
    :param width: image width.
    :return: (map_x, map_y), float32 H x W each.
    :raises ValueError: when the table does not fit the image size.
    """
    table = np.fromfile(path, dtype=np.float64)
    if table.size != 2 * height * width:
        raise ValueError(f'{path}: {table.size} values do not fit {width}x{height} images '
                         f'({2 * height * width} expected)')
    table = table.reshape(2, height, width).astype(np.float32)
    return table[0], table[1]


def run_folder(folder):
    """Return the run of a camera folder (the folder above ``stereo``/``mono_*``), or None."""
    parts = Path(folder).parts
    for index in range(len(parts) - 1, -1, -1):
        if CAMERA_FOLDER.fullmatch(parts[index]):
            return Path(*parts[:index]) if index else Path('.')
    return None


class RobotCarFolder(FrameSource):
    """
    One folder of timestamped RobotCar frames as a frame source.

    :param folder: the image folder.
    :param config: a :class:`RobotCarConfig` (its ``folders``, ``vo_csv`` and ``ins_csv`` are
        not used here).
    :param vo_csv: the folder's visual odometry; '' : ``<run>/vo/vo.csv``.
    :param ins_csv: the folder's INS solutions; '' : ``<run>/gps/ins.csv``.
    """

    def __init__(self, folder, config, vo_csv='', ins_csv=''):
        """List the frames, read the camera model and table, drop a standing car, read speeds."""
        self.folder = Path(folder)
        self.name = str(folder)
        self.config = config
        self.max_gap_s = float(config.max_gap_s)
        if not self.folder.is_dir():
            raise FileNotFoundError(f'RobotCar image folder {folder} does not exist')
        times = sorted(int(path.stem) for path in self.folder.glob('*.png')
                       if path.stem.isdigit())
        if not times:
            raise ValueError(f'{folder} has no <timestamp>.png frames')
        self.times = np.array(times, dtype=np.int64)
        check_increasing(self.times, f'RobotCar folder {folder}', 1e-6)
        model = config.camera_model or camera_model_name(folder)
        family = 'stereo' if model.startswith('stereo') else 'mono'
        self.pattern = config.bayer_pattern or BAYER_PATTERNS[family]
        models = Path(config.models_dir)
        fx, fy, cx, cy = read_camera_model(models / f'{model}.txt')
        raw = read_unchanged(self.path(0))
        height, width = raw.shape[:2]
        self.maps = self.undistortion(raw, models / f'{model}_distortion_lut.bin')
        self.crop = Crop.from_list(config.crop)
        self.k_norm = self.crop.intrinsics(normalise_intrinsics(fx, fy, cx, cy, width, height),
                                           height, width)
        run = run_folder(self.folder)
        default = None if run is None else run / 'vo' / 'vo.csv'
        self.vo_csv = Path(vo_csv) if vo_csv else default
        """The visual odometry file looked for (None: the run is unknown)."""
        default = None if run is None else run / 'gps' / 'ins.csv'
        self.ins_csv = Path(ins_csv) if ins_csv else default
        """The INS file looked for (None: the run is unknown)."""
        self.times = self.times[self.moving()]
        self.count = len(self.times)
        self.stamps = self.times / 1e6
        self.speeds, self.speed_source = self.read_speeds()

    def undistortion(self, raw, table):
        """
        Return the remap maps the frames need (None: none), deciding 'auto' by the first frame.

        :param raw: the first frame as stored: H x W (x 1) Bayer or H x W x C.
        :param table: the SDK look-up table of the camera model.
        :raises ValueError: for 3-channel frames under 'auto' (see the module docstring).
        """
        height, width = raw.shape[:2]
        mode = self.config.undistort
        if mode == 'auto' and raw.ndim == 3 and raw.shape[2] > 1:
            pixels = table.stat().st_size // 16 if table.is_file() else None
            if pixels is None:
                reason = f'there is no SDK table {table} to compare their {width}x{height} with'
            elif pixels == height * width:
                reason = (f'the SDK table {table} fits their {width}x{height} size and the '
                          "SDK's undistortion keeps the size, so they may be demosaiced only "
                          '(distorted) or demosaiced and undistorted')
            else:
                reason = (f'the SDK table {table} is for {pixels} pixels, not their '
                          f'{width}x{height}: they were resized or cropped after download, and '
                          "neither the table nor the model's pixel intrinsics may fit them "
                          "(use 'never' with a camera model for this size)")
            raise ValueError(f'{self.name}: 3-channel frames under undistort: auto: {reason}; '
                             "set undistort to 'always' (demosaiced only) or 'never' (already "
                             'undistorted)')
        if mode == 'never':
            return None
        return read_undistortion_lut(table, height, width)

    def moving(self):
        """
        Return which frames to keep under ``config.stationary`` (see the module docstring).

        :return: F bool over :attr:`times` (all True when 'off').
        :raises FileNotFoundError: under 'vo' without the vo.csv.
        :raises ValueError: when the vo.csv does not cover any frame.
        """
        config = self.config
        everything = np.ones(len(self.times), dtype=bool)
        if config.stationary == 'off':
            return everything
        has_vo = self.vo_csv is not None and self.vo_csv.is_file()
        if config.stationary == 'vo' and not has_vo:
            raise FileNotFoundError(
                f'{self.name}: stationary: vo needs the visual odometry '
                f'{self.vo_csv or "<run>/vo/vo.csv"}, which does not exist; set vo_csv, or '
                "stationary to 'image' or 'off'")
        if has_vo and config.stationary != 'image':
            vo_times, positions = read_vo_positions(self.vo_csv)
            inside = (self.times >= vo_times[0]) & (self.times <= vo_times[-1])
            if not inside.any():
                raise ValueError(f'{self.vo_csv} covers {vo_times[0]} to {vo_times[-1]}, no '
                                 f'frame of {self.name} ({self.times[0]} to {self.times[-1]}): '
                                 'the vo.csv of another run?')
            offsets = (vo_times - vo_times[0]).astype(np.float64)
            at = (self.times - vo_times[0]).astype(np.float64)
            where = np.stack([np.interp(at, offsets, axis) for axis in positions.T], axis=1)
            keep = keep_moving(inside, lambda a, b: float(np.linalg.norm(where[a] - where[b])),
                               config.min_motion_m)
            how = f'moved < {config.min_motion_m} m in {self.vo_csv} or outside it'
        else:
            small = {}

            def difference(last, index):
                for frame in [frame for frame in small if frame not in (last, index)]:
                    del small[frame]
                for frame in (last, index):
                    if frame not in small:
                        small[frame] = thumbnail(self.image(frame))
                return float(np.abs(small[last] - small[index]).mean())

            keep = keep_moving(everything, difference, config.min_difference)
            how = f'thumbnail difference < {config.min_difference}'
        LOG.info('%s: dropped %d of %d frames of a standing car (%s)', self.name,
                 len(keep) - np.count_nonzero(keep), len(keep), how)
        return keep

    def read_speeds(self):
        """
        Return the vehicle's speed at each frame under ``config.speeds`` (module docstring).

        :return: (F float64 m/s, NaN where unknown, or None: no speed; the speed source, '' for
            none).
        :raises FileNotFoundError: under 'ins' or 'vo' without that file.
        :raises ValueError: when the file is malformed or covers no frame.
        """
        choice = self.config.speeds
        files = {'ins': self.ins_csv, 'vo': self.vo_csv}
        kinds = [kind for kind in files if choice in ('auto', kind)]
        found = [kind for kind in kinds if files[kind] is not None and files[kind].is_file()]
        if choice in files and not found:
            raise FileNotFoundError(
                f'{self.name}: speeds: {choice} needs {files[choice] or f"its {choice}_csv"}, '
                f"which does not exist; set {choice}_csv, or speeds to 'auto' or 'none'")
        if not found:
            return None, ''
        kind = found[0]
        path = files[kind]
        times, speeds = read_ins_speeds(path) if kind == 'ins' else read_vo_speeds(path)
        if not ((self.times >= times[0]) & (self.times <= times[-1])).any():
            raise ValueError(f'{path} covers {times[0]} to {times[-1]}, no frame of '
                             f'{self.name} ({self.times[0]} to {self.times[-1]}): the {kind} '
                             'file of another run?')
        return (speeds_at(times, speeds, self.times, self.max_gap_s * 1e6 or np.inf),
                SPEED_SOURCES[kind])

    def path(self, index):
        """Return the file of frame ``index``."""
        return self.folder / f'{self.times[index]}.png'

    def image(self, index):
        """Return frame ``index``: demosaiced, undistorted and cropped RGB uint8."""
        raw = read_unchanged(self.path(index))
        if raw.ndim == 2 or raw.shape[2] == 1:
            rgb = to_rgb(raw.reshape(raw.shape[:2]), f'bayer_{self.pattern}8')
        else:
            rgb = opencv_to_rgb(raw)
        if self.maps is not None:
            rgb = cv2.remap(rgb, self.maps[0], self.maps[1], cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT)
        return self.crop.apply(rgb)

    def frame_name(self, index):
        """Return the folder and timestamp of frame ``index``."""
        return f'{self.name} {self.times[index]}'


class RobotCarDataset(SequenceDataset):
    """
    Training samples from RobotCar image folders.

    :param config: a :class:`RobotCarConfig` (or a mapping of one).
    :param sample: a :class:`~defeat_ros.data.sample.SampleConfig` (or a mapping, or None).
    """

    Config = RobotCarConfig

    def __init__(self, config, sample=None):
        """Read every folder and index its usable frames."""
        if isinstance(config, dict):
            config = RobotCarConfig.from_dict(config)
        if not config.folders:
            raise ValueError('RobotCarConfig.folders lists no image folders')
        self.source_config = config
        vo_files = config.vo_csv or [''] * len(config.folders)
        ins_files = config.ins_csv or [''] * len(config.folders)
        super().__init__([RobotCarFolder(folder, config, vo, ins)
                          for folder, vo, ins in zip(config.folders, vo_files, ins_files)],
                         sample)
