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
``COLOR_BayerBG2RGB``, as OpenCV names a pattern by its second row) and, with
``undistort='auto'``, undistorted with the SDK's look-up table as its ``camera_model.py`` does.
Three-channel frames are taken as already demosaiced (and, under 'auto', undistorted).

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
"""

from dataclasses import dataclass, field
import os
from pathlib import Path
import re

import cv2
from defeat_ros.data.frame_windows import check_increasing
from defeat_ros.data.image_ops import Crop, opencv_to_rgb, read_unchanged
from defeat_ros.data.sequence_dataset import FrameSource, SequenceDataset
from defeat_ros.geometry import normalise_intrinsics
from defeat_ros.runtime.image_encoding import to_rgb
from defeat_ros.typed_config import TypedConfig
import numpy as np

BAYER_PATTERNS = {'stereo': 'gbrg', 'mono': 'rggb'}
"""The SDK's Bayer pattern of each camera family (first row, then second row)."""

UNDISTORT_CHOICES = ('auto', 'always', 'never')


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
    """'auto': undistort raw Bayer frames with the SDK table; 'always'; 'never'."""
    crop: list = field(default_factory=lambda: [0, 0, 0, 0])
    """Pixels removed [top, bottom, left, right] after undistortion (intrinsics follow)."""
    max_gap_s: float = 0.2
    """Largest time between consecutive frames of a sample (stereo runs at 16 Hz); 0: off."""

    def __post_init__(self):
        """Accept one folder as a string and check the choices."""
        if isinstance(self.folders, (str, os.PathLike)):
            self.folders = [self.folders]
        self.folders = [str(folder) for folder in self.folders]
        if self.undistort not in UNDISTORT_CHOICES:
            raise ValueError(f'undistort must be one of {UNDISTORT_CHOICES}, '
                             f'got {self.undistort!r}')
        Crop.from_list(self.crop)


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


def read_camera_model(path):
    """
    Read an SDK camera model file.

    :param path: ``<model>.txt``: ``fx fy cx cy`` on the first line, then ``G_camera_image``.
    :return: (fx, fy, cx, cy) in pixels (floats).
    :raises ValueError: naming the file when the first line is not four numbers.
    """
    with open(path) as stream:
        first = stream.readline().split()
    try:
        values = [float(value) for value in first]
    except ValueError:
        values = []
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


class RobotCarFolder(FrameSource):
    """
    One folder of timestamped RobotCar frames as a frame source.

    :param folder: the image folder.
    :param config: a :class:`RobotCarConfig` (its ``folders`` are not used here).
    """

    def __init__(self, folder, config):
        """List the frames, read the camera model and (if used) the undistortion table."""
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
        self.count = len(times)
        self.stamps = self.times / 1e6
        check_increasing(self.times, f'RobotCar folder {folder}', 1e-6)
        model = config.camera_model or camera_model_name(folder)
        family = 'stereo' if model.startswith('stereo') else 'mono'
        self.pattern = config.bayer_pattern or BAYER_PATTERNS[family]
        models = Path(config.models_dir)
        fx, fy, cx, cy = read_camera_model(models / f'{model}.txt')
        raw = read_unchanged(self.path(0))
        height, width = raw.shape[:2]
        bayer = raw.ndim == 2 or raw.shape[2] == 1
        self.maps = None
        if config.undistort == 'always' or (config.undistort == 'auto' and bayer):
            self.maps = read_undistortion_lut(models / f'{model}_distortion_lut.bin', height,
                                              width)
        self.crop = Crop.from_list(config.crop)
        self.k_norm = self.crop.intrinsics(normalise_intrinsics(fx, fy, cx, cy, width, height),
                                           height, width)

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
        super().__init__([RobotCarFolder(folder, config) for folder in config.folders], sample)
