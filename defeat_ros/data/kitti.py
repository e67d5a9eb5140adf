"""
The KITTI dataset: raw drives (or odometry sequences) through a split file, as used for training.

``KittiDataset(KittiConfig(root=..., split=...), SampleConfig(...))`` reads the frames a split
file lists (see :mod:`defeat_ros.data.kitti_split` for the format and where the standard
Eigen-Zhou, Eigen and odometry splits come from), with each drive's own rectified intrinsics
(``P_rect_02``/``P_rect_03`` of its date's ``calib_cam_to_cam.txt``, normalised by the
calibrated image size ``S_rect_0X``) rather than one fixed matrix for all of KITTI; frames that
are neither that size nor a pure resize of it (a crop) are refused, see
:mod:`defeat_ros.data.kitti_calib` (odometry states no size: its rule is there). Without a
split file every frame of every drive under the root that has its neighbours is used.
Ground-truth depth (KITTI depth benchmark PNGs) is added as ``depth`` when ``depth`` is set;
frames without a ground-truth file get all zeros (unknown). Every sample has ``labels``: the
drive's ``semantic/image_0X`` PNGs where present, else IGNORE (see
:mod:`defeat_ros.data.kitti_layout`). With ``oxts_speeds`` each raw drive's
GPS/INS packets give the vehicle's speed at every frame, and samples the distance travelled to
each source (``distances``, for velocity supervision; see :mod:`defeat_ros.data.kitti_layout`).
Samples are named by their
split-file line and keep the split's order (so that results line up with per-frame ground
truth exported in that order).
"""

from dataclasses import dataclass

from defeat_ros.data.kitti_layout import find_drives, KittiDrive
from defeat_ros.data.kitti_split import read_split, SplitEntry
from defeat_ros.data.sequence_dataset import SequenceDataset
from defeat_ros.typed_config import TypedConfig


@dataclass
class KittiConfig(TypedConfig):
    """Where KITTI is and which of its frames to use."""

    root: str = 'data/kitti'
    """KITTI raw root (the date folders), or the odometry root (holding ``sequences``)."""
    split: str = ''
    """Split file (``<folder> <frame> <l|r>`` lines); '' : every frame with neighbours."""
    sides: str = 'l'
    """Cameras used without a split file: ``l`` (image_02), ``r`` (image_03) or ``lr``."""
    image_format: str = 'auto'
    """Frame files: ``auto`` (PNG, else JPEG), ``png`` or ``jpg``."""
    depth: bool = False
    """Add ground-truth depth (``proj_depth/groundtruth``, uint16 / 256 m) to every sample."""
    depth_root: str = ''
    """Separate depth-benchmark folder (``train``/``val``/<drive>/proj_depth); '' : none."""
    max_gap_s: float = 0.0
    """
    Drop samples spanning a larger gap in the timestamps files (0: existence check only); oxts
    packets further apart leave the frames between them without speed."""
    oxts_speeds: bool = True
    """Read the vehicle's speed from the oxts packets of raw drives that have them."""


class KittiDataset(SequenceDataset):
    """
    Training samples from KITTI.

    :param config: a :class:`KittiConfig` (or a mapping of one).
    :param sample: a :class:`~defeat_ros.data.sample.SampleConfig` (or a mapping, or None).
    :raises ValueError: when none of the requested frames can be used.
    """

    Config = KittiConfig

    def __init__(self, config, sample=None):
        """Read the split (or list the drives) and index the usable frames."""
        if isinstance(config, dict):
            config = KittiConfig.from_dict(config)
        self.source_config = config
        if config.split:
            entries = read_split(config.split)
            where = f'split {config.split}'
        else:
            entries = [SplitEntry(folder, -1, side) for folder in find_drives(config.root)
                       for side in config.sides]
            where = f'the drives under {config.root}'
        drives, numbers, target_sources = [], {}, []
        for entry in entries:
            key = f'{entry.folder} {entry.side}'
            if key not in numbers:
                numbers[key] = len(drives)
                drives.append(KittiDrive(config.root, entry.folder, entry.side,
                                         config.image_format, config.depth, config.depth_root,
                                         config.max_gap_s, config.oxts_speeds))
            target_sources.append(numbers[key])
        if config.split:  # the split's samples, in its order
            super().__init__(drives, sample, target_sources, [e.frame for e in entries])
        else:
            super().__init__(drives, sample)
        if len(self) == 0:
            detail = f'; e.g. {self.dropped[0]}' if self.dropped else ''
            raise ValueError(f'no usable KITTI frames in {where} under root {config.root} '
                             f'({len(entries)} listed){detail}')
