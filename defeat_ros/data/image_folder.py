"""
Any folder of image sequences with a calibration file, as training sequences.

Layout: ``root`` holds the frames of one sequence, or one subfolder per sequence. Frames are
the image files of a folder (PNG, JPEG, BMP, TIFF, WebP, PPM/PGM), in natural order of their
names (``frame2`` before ``frame10``); frames of one folder may differ in size (each is
resized to the training resolution). There are no timestamps, so no gap check.

Calibration: the file ``calibration`` names, else the first of :data:`CALIBRATION_NAMES` found
in the sequence folder, then in ``root``. Accepted contents (YAML or JSON):

* ``fx, fy, cx, cy, width, height``: pixel intrinsics of width x height images, OpenCV
  convention (pixel centres at integers); optional ``distortion`` (plumb_bob coefficients,
  or ``distortion_model``: ``equidistant``) undistorts the frames first;
* ``fx, fy, cx, cy`` with ``normalised: true``: normalised by the image size, corner
  convention (:mod:`defeat_ros.geometry`), size-independent;
* a ROS ``camera_calibration`` YAML (``image_width``, ``image_height``, ``camera_matrix``,
  ``distortion_model``, ``distortion_coefficients``, ``rectification_matrix``,
  ``projection_matrix``), as ``camera_calibration`` and ``camera_info_manager`` write it;
* a 3 x 3 matrix (a list of three rows) of normalised intrinsics, as ManyDepth's
  ``*_intrinsics.json``.

Pixel calibrations apply to frames of the calibrated size or a uniform scaling of it (same
aspect ratio to 1 %); other sizes are an error naming the file. ``crop`` then removes border
pixels and the intrinsics follow.

Labels (the samples' ``labels``): a label PNG per frame holding one Cityscapes label-file id
per pixel (:mod:`defeat_ros.semantics`; 0 unlabelled), named like the frame with ``.png``
(``frame7.jpg`` -> ``frame7.png``), the size of the frame (undistorted and cropped with it,
nearest neighbour). They are in the folder ``labels`` names: with ``labels`` empty, the sibling
``<sequence folder>_labels`` (``drive/`` -> ``drive_labels/``) when it exists; otherwise the
named folder itself for a root that is one sequence, or its subfolder named as the sequence
folder; ``none`` turns labels off. Frames without a label PNG get IGNORE. Subfolders
``<name>_labels`` beside a subfolder ``<name>`` are label folders, never sequences.
"""

from dataclasses import dataclass, field
import json
from pathlib import Path

from defeat_ros.data.image_ops import Crop, read_labels, read_rgb
from defeat_ros.data.media import image_files, IMAGE_SUFFIXES, natural_key
from defeat_ros.data.rectify import Rectifier
from defeat_ros.data.sequence_dataset import FrameSource, SequenceDataset
from defeat_ros.typed_config import TypedConfig
import torch
import yaml


CALIBRATION_NAMES = ('calib.yaml', 'calib.yml', 'calib.json', 'camera_info.yaml',
                     'intrinsics.json')
"""Calibration files looked for, in this order, when ``calibration`` is empty."""

LABEL_SUFFIX = '_labels'
"""Label folders found automatically are the sequence folder's name plus this suffix."""


@dataclass
class ImageFolderConfig(TypedConfig):
    """Where the image sequences and their calibration are."""

    root: str = ''
    """Folder of frames, or of one subfolder of frames per sequence."""
    sequences: list = field(default_factory=list)
    """Subfolders of ``root`` to use; [] : root itself if it has frames, else every subfolder."""
    calibration: str = ''
    """Calibration file for every sequence; '' : look for CALIBRATION_NAMES (sequence, root)."""
    crop: list = field(default_factory=lambda: [0, 0, 0, 0])
    """Pixels removed [top, bottom, left, right] from each frame (intrinsics follow)."""
    labels: str = ''
    """Folder of label PNGs (Cityscapes label-file ids, named like the frames): itself for a
    root that is one sequence, else its subfolder named as each sequence; '' : the sibling
    ``<sequence folder>_labels`` if it exists; 'none': no labels."""

    def __post_init__(self):
        """Check the crop."""
        Crop.from_list(self.crop)


@dataclass
class Calibration:
    """Intrinsics of a folder: normalised, plus the rectifier of pixel calibrations."""

    k_norm: torch.Tensor
    """3 x 3 float32 normalised intrinsics (of the rectified frames)."""
    rectifier: Rectifier = None
    """Undistortion for frames of the calibrated size (None: normalised calibration)."""


def read_mapping(path):
    """Read a YAML or JSON calibration file."""
    with open(path) as stream:
        if Path(path).suffix.lower() == '.json':
            return json.load(stream)
        return yaml.safe_load(stream)


def matrix_data(value, rows, cols, what, path):
    """Return the numbers of a ``{rows, cols, data}`` matrix (or a flat or nested list)."""
    data = value.get('data') if isinstance(value, dict) else value
    flat = [float(v) for v in torch.tensor(data, dtype=torch.float64).reshape(-1).tolist()]
    if len(flat) != rows * cols:
        raise ValueError(f'{path}: {what} must have {rows * cols} numbers, got {len(flat)}')
    return flat


def listed(data, key):
    """Return the numbers of entry ``key``: its ``data`` list, the list itself, or []."""
    value = data.get(key) or []
    return value.get('data', []) if isinstance(value, dict) else value


def read_calibration(path):
    """
    Read a calibration file in any format the module docstring lists.

    :param path: the YAML or JSON file.
    :return: a :class:`Calibration`.
    :raises ValueError: naming the file for missing or malformed entries.
    """
    data = read_mapping(path)
    if isinstance(data, list):
        k = torch.tensor(matrix_data(data, 3, 3, 'the intrinsics matrix', path)).view(3, 3)
        return Calibration(k.to(torch.float32))
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a mapping or a 3 x 3 matrix')
    if 'camera_matrix' in data:
        width, height = data.get('image_width'), data.get('image_height')
        if not width or not height:
            raise ValueError(f'{path}: image_width and image_height are required')
        rectifier = Rectifier(
            width, height, matrix_data(data['camera_matrix'], 3, 3, 'camera_matrix', path),
            listed(data, 'distortion_coefficients'), data.get('distortion_model', 'plumb_bob'),
            listed(data, 'rectification_matrix'), listed(data, 'projection_matrix'),
            where=str(path))
        return Calibration(rectifier.k_norm, rectifier)
    missing = [key for key in ('fx', 'fy', 'cx', 'cy') if key not in data]
    if missing:
        raise ValueError(f'{path}: missing {missing}; expected fx, fy, cx, cy with width and '
                         'height (pixels) or normalised: true, a ROS camera_calibration YAML, '
                         'or a 3 x 3 normalised matrix')
    fx, fy, cx, cy = (float(data[key]) for key in ('fx', 'fy', 'cx', 'cy'))
    if data.get('normalised', data.get('normalized', False)):
        k = torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=torch.float32)
        return Calibration(k)
    if not data.get('width') or not data.get('height'):
        raise ValueError(f'{path}: pixel intrinsics need the image width and height '
                         '(or set normalised: true)')
    rectifier = Rectifier(data['width'], data['height'], [fx, 0.0, cx, 0.0, fy, cy, 0, 0, 1],
                          data.get('distortion', []), data.get('distortion_model', 'plumb_bob'),
                          where=str(path))
    return Calibration(rectifier.k_norm, rectifier)


def find_calibration(folder, config):
    """Return the calibration file of a sequence folder (see :data:`CALIBRATION_NAMES`)."""
    if config.calibration:
        return Path(config.calibration)
    for directory in (Path(folder), Path(config.root)):
        for name in CALIBRATION_NAMES:
            if (directory / name).is_file():
                return directory / name
    raise FileNotFoundError(f'no calibration for {folder}: none of {list(CALIBRATION_NAMES)} in '
                            f'it or in {config.root}; set calibration')


def find_label_folder(folder, config):
    """Return the label folder of a sequence folder (see the module docstring), or None."""
    folder = Path(folder)
    if config.labels == 'none':
        return None
    if not config.labels:
        sibling = folder.with_name(folder.name + LABEL_SUFFIX)
        return sibling if sibling.is_dir() else None
    labels = Path(config.labels)
    if folder.resolve() != Path(config.root).resolve():
        labels = labels / folder.name
    if not labels.is_dir():
        raise FileNotFoundError(f'label folder {labels} of {folder} does not exist')
    return labels


class ImageFolder(FrameSource):
    """
    One folder of frames as a frame source.

    :param folder: the folder.
    :param config: an :class:`ImageFolderConfig`.
    """

    def __init__(self, folder, config):
        """List the frames and read the calibration."""
        self.folder = Path(folder)
        self.name = str(folder)
        self.files = image_files(folder)
        self.count = len(self.files)
        if not self.files:
            raise ValueError(f'{folder} has no image files ({", ".join(IMAGE_SUFFIXES)})')
        path = find_calibration(folder, config)
        self.calibration = read_calibration(path)
        self.crop = Crop.from_list(config.crop)
        rectifier = self.calibration.rectifier
        height, width = read_rgb(self.files[0]).shape[:2]
        if rectifier is not None and (width, height) != (rectifier.width, rectifier.height):
            scale_x, scale_y = width / rectifier.width, height / rectifier.height
            if abs(scale_x / scale_y - 1.0) > 0.01:
                raise ValueError(f'{self.files[0]} is {width}x{height}, but {path} calibrates '
                                 f'{rectifier.width}x{rectifier.height} images')
            if not rectifier.identity:
                raise ValueError(f'{self.files[0]} is {width}x{height}: undistortion with {path} '
                                 f'needs frames of the calibrated {rectifier.width}x'
                                 f'{rectifier.height}')
        self.k_norm = self.crop.intrinsics(self.calibration.k_norm, height, width)
        self.label_folder = find_label_folder(folder, config)
        """Where the label PNGs are (None: no labels)."""
        self.has_labels = self.label_folder is not None

    def image(self, index):
        """Return frame ``index`` as RGB uint8 (undistorted and cropped when configured)."""
        image = read_rgb(self.files[index])
        rectifier = self.calibration.rectifier
        if rectifier is not None and not rectifier.identity:
            image = rectifier.apply(image)
        return self.crop.apply(image)

    def labels(self, index):
        """Return the label-file ids of frame ``index`` as :meth:`image` crops it, or None."""
        if self.label_folder is None:
            return None
        path = self.label_folder / (self.files[index].stem + '.png')
        if not path.is_file():
            return None
        labels = read_labels(path)
        rectifier = self.calibration.rectifier
        if rectifier is not None and not rectifier.identity:
            labels = rectifier.apply(labels, nearest=True)
        return self.crop.apply(labels)

    def frame_name(self, index):
        """Return the file of frame ``index``."""
        return str(self.files[index])


def sequence_folders(config):
    """Return the sequence folders of a config: listed, root itself, or its subfolders."""
    root = Path(config.root)
    if not root.is_dir():
        raise FileNotFoundError(f'image folder root {root} does not exist')
    if config.sequences:
        return [root / name for name in config.sequences]
    if image_files(root):
        return [root]
    folders = [path for path in root.iterdir() if path.is_dir() and image_files(path)]
    names = {path.name for path in folders}
    folders = sorted((path for path in folders if not (path.name.endswith(LABEL_SUFFIX) and
                                                       path.name[:-len(LABEL_SUFFIX)] in names)),
                     key=lambda path: natural_key(path.name))
    if not folders:
        raise ValueError(f'{root} has no image files and no subfolders with image files')
    return folders


class ImageFolderDataset(SequenceDataset):
    """
    Training samples from folders of image sequences.

    :param config: an :class:`ImageFolderConfig` (or a mapping of one).
    :param sample: a :class:`~defeat_ros.data.sample.SampleConfig` (or a mapping, or None).
    """

    Config = ImageFolderConfig

    def __init__(self, config, sample=None):
        """Find the sequences and their calibration."""
        if isinstance(config, dict):
            config = ImageFolderConfig.from_dict(config)
        self.source_config = config
        super().__init__([ImageFolder(folder, config) for folder in sequence_folders(config)],
                         sample)
