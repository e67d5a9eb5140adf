"""
The Dataset every loader shares: frame sources in, samples of (target, sources) out.

A loader describes each sequence as a :class:`FrameSource` (frames by index, intrinsics,
optional stamps, presence, ground-truth depth and per-pixel class labels) and hands the sources to
:class:`SequenceDataset`, which picks the target frames whose neighbours exist (see
:mod:`defeat_ros.data.frame_windows`), reads and resizes frames, draws the augmentation and
assembles the sample (see :mod:`defeat_ros.data.sample`). Every sample gets ``labels``: the
target's :meth:`FrameSource.labels` (label-file ids of any size with the frame's aspect ratio)
resized with nearest neighbour to the training resolution and mapped to train ids
(:func:`~defeat_ros.semantics.train_ids`), or all IGNORE where the source has none.

Augmentation draws are deterministic: sample ``i`` in epoch ``e`` draws from a generator seeded
with ``(config.seed, e, i)``, whatever the number of data-loading workers. Call
:meth:`SequenceDataset.set_epoch` at the start of every epoch (as with ``DistributedSampler``);
with ``persistent_workers=True`` the workers keep the epoch they were started with.
"""

import logging

from defeat_ros.data.augment import draw_augmentation
from defeat_ros.data.frame_windows import valid_targets
from defeat_ros.data.image_ops import resize_depth, resize_labels, resize_rgb, rgb_tensor
from defeat_ros.data.sample import as_sample_config, build_sample
from defeat_ros.data.travel import travelled_distances
from defeat_ros.semantics import train_ids
import numpy as np
import torch
from torch.utils.data import Dataset

LOG = logging.getLogger(__name__)


class FrameSource:
    """
    One sequence of frames from one camera: the interface loaders implement.

    Subclasses set the attributes in their constructor and implement :meth:`image` (and
    :meth:`depth` when ``has_depth``; :meth:`labels` when they may have class labels).
    """

    name = ''
    """What the sequence is (a folder, a bag): used in sample names and messages."""
    k_norm = None
    """3 x 3 float32 normalised intrinsics of the frames :meth:`image` returns."""
    count = 0
    """F, the number of frame slots (frame indices are 0 .. F - 1)."""
    present = None
    """F bool, whether each slot holds a frame (None: all do)."""
    stamps = None
    """F float64 capture times in seconds (None: unknown)."""
    speeds = None
    """F float64 speed of the vehicle at each frame's capture time in m/s, NaN where unknown
    (None: no speed recorded); needs ``stamps``. See :mod:`defeat_ros.data.travel`."""
    speed_source = ''
    """Where :attr:`speeds` come from (a topic, a file), for the training log."""
    max_gap_s = 0.0
    """Largest time between consecutive frames of one sample (0: no check)."""
    has_depth = False
    """Whether :meth:`depth` returns ground truth."""
    has_labels = False
    """Whether :meth:`labels` may return class labels (for some frames at least)."""

    def image(self, index):
        """Return frame ``index`` as RGB uint8 H x W x 3 (any size; the dataset resizes it)."""
        raise NotImplementedError

    def depth(self, index):
        """Return ground truth of frame ``index``: float32 H x W metres, 0 (or inf) unknown."""
        raise NotImplementedError

    def labels(self, index):
        """
        Return the per-pixel classes of frame ``index``, or None when it has none (the default).

        :return: uint8 H x W Cityscapes label-file ids (:mod:`defeat_ros.semantics`; 0
            unlabelled), aligned with :meth:`image`; any size with the same aspect ratio as the
            frame (the dataset resizes them with nearest neighbour). None: no labels.
        """
        return None

    def frame_name(self, index):
        """Return the name of frame ``index`` (the default: source name and index)."""
        return f'{self.name} {index}'

    def valid_targets(self, offsets):
        """Return the int64 frame indices that can be targets with these source offsets."""
        return valid_targets(self.count, offsets, self.present, self.stamps, self.max_gap_s)


class SequenceDataset(Dataset):
    """
    Samples of frame windows from one or more :class:`FrameSource` s.

    :param sources: the frame sources.
    :param config: a :class:`~defeat_ros.data.sample.SampleConfig` (or a mapping of one).
    :param target_sources: with ``target_frames``, the samples wanted, in order: the number
        of each one's source in ``sources`` (None: every valid frame of every source, source
        by source). Requested targets whose window is incomplete are dropped and listed in
        :attr:`dropped`.
    :param target_frames: the target frame index of each requested sample.
    """

    def __init__(self, sources, config=None, target_sources=None, target_frames=None):
        """Index the valid targets of every source."""
        config = as_sample_config(config)
        self.config = config
        self.sources = list(sources)
        self.epoch = 0
        valid = [source.valid_targets(config.offsets) for source in self.sources]
        if target_sources is None:
            target_sources = np.concatenate(
                [np.full(len(v), number, dtype=np.int64) for number, v in enumerate(valid)]
                + [np.zeros(0, np.int64)])
            target_frames = np.concatenate(valid + [np.zeros(0, np.int64)])
        target_sources = np.asarray(target_sources, dtype=np.int64)
        target_frames = np.asarray(target_frames, dtype=np.int64)
        keep = np.zeros(len(target_frames), dtype=bool)
        for number, frames in enumerate(valid):
            mine = target_sources == number
            keep[mine] = np.isin(target_frames[mine], frames)
        self.dropped = [f'{self.sources[s].frame_name(int(t))}: the target or a source at '
                        f'offsets {config.offsets} is missing or beyond a time gap'
                        for s, t in zip(target_sources[~keep], target_frames[~keep])]
        """Names of requested targets that were dropped, with the reason."""
        self.source_index = target_sources[keep]
        """Per sample, the number of its source in :attr:`sources`."""
        self.target_frame = target_frames[keep]
        """Per sample, the target's frame index in its source."""
        if self.dropped:
            LOG.warning('dropped %d of %d requested samples whose neighbours are missing, '
                        'e.g. %s', len(self.dropped), len(self.dropped) + len(self),
                        self.dropped[0])
        self.has_depth = bool(self.sources) and all(s.has_depth for s in self.sources)
        self.has_labels = any(s.has_labels for s in self.sources)
        """Whether some source may have class labels (samples always carry ``labels``)."""
        self.speed_sources = sorted({s.speed_source or 'unnamed' for s in self.sources
                                     if s.speeds is not None})
        """Where the speeds of the sources that have them come from ([]: no speed)."""

    def __len__(self):
        """Return the number of samples."""
        return len(self.target_frame)

    def set_epoch(self, epoch):
        """Choose the epoch whose augmentation draws :meth:`__getitem__` makes."""
        self.epoch = int(epoch)

    def generator(self, index):
        """Return the torch generator of sample ``index`` in the current epoch."""
        seed = np.random.SeedSequence([self.config.seed, self.epoch, index]).generate_state(1)
        return torch.Generator().manual_seed(int(seed[0]))

    def frame(self, source, index):
        """Read frame ``index`` of ``source`` at the training resolution as 3 x H x W."""
        return self.frame_and_size(source, index)[0]

    def frame_and_size(self, source, index):
        """Return frame ``index`` (3 x H x W, training resolution) and its size (height, width)."""
        image = source.image(index)
        size = image.shape[:2]
        return rgb_tensor(resize_rgb(image, self.config.height, self.config.width)), size

    def labels(self, source, index, size):
        """
        Return the train ids (H x W uint8 tensor) of frame ``index``, or None without labels.

        :param size: (height, width) of the frame as :meth:`FrameSource.image` returns it.
        :raises ValueError: when the labels' aspect ratio is not the frame's (1 % tolerance).
        """
        labels = source.labels(index)
        if labels is None:
            return None
        labels = np.asarray(labels)
        if labels.ndim != 2 or labels.dtype != np.uint8:
            raise ValueError(f'{source.frame_name(index)}: labels must be uint8 H x W, got '
                             f'{labels.dtype} with shape {labels.shape}')
        (height, width), (label_height, label_width) = size, labels.shape
        if abs(label_width * height / (label_height * width) - 1.0) > 0.01:
            raise ValueError(f'{source.frame_name(index)}: labels are {label_width}x'
                             f'{label_height}, not the frame {width}x{height} or a resize of it')
        labels = resize_labels(labels, self.config.height, self.config.width)
        return torch.from_numpy(train_ids(labels))

    def __getitem__(self, index):
        """Return sample ``index`` (see :mod:`defeat_ros.data.sample`)."""
        if not 0 <= index < len(self):
            raise IndexError(f'sample {index} out of range for {len(self)} samples')
        source = self.sources[self.source_index[index]]
        target = int(self.target_frame[index])
        first, size = self.frame_and_size(source, target)
        frames = torch.stack([first] + [self.frame(source, target + o)
                                        for o in self.config.offsets])
        depth = None
        if self.has_depth:
            depth = torch.from_numpy(resize_depth(source.depth(target), self.config.height,
                                                  self.config.width))
        stamp = float('nan') if source.stamps is None else float(source.stamps[target])
        distances = travelled_distances(source.speeds, source.stamps, target,
                                        self.config.offsets)
        augmentation = draw_augmentation(self.config.augment, self.generator(index))
        return build_sample(frames, source.k_norm, augmentation, self.config.offsets, index,
                            source.frame_name(target), stamp, depth, distances,
                            self.labels(source, target, size))
