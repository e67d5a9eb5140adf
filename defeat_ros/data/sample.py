"""
The training sample every dataset returns: a dict with fixed string keys.

With S source offsets and the training resolution H x W (``SampleConfig``):

| key | shape, type | meaning |
| --- | --- | --- |
| ``target`` | 3 x H x W float32 | loss target: frame t, RGB in [0, 1], never augmented |
| ``sources`` | S x 3 x H x W float32 | loss targets: frames ``t + offsets[s]``, never augmented |
| ``k_norm`` | 3 x 3 float32 | normalised intrinsics of the loss targets |
| ``target_aug`` | 3 x H x W float32 | network input: ``target`` jittered and maybe flipped |
| ``sources_aug`` | S x 3 x H x W float32 | network inputs: ``sources``, same jitter and flip |
| ``k_norm_aug`` | 3 x 3 float32 | intrinsics of the network inputs (``cx -> 1 - cx`` if flipped) |
| ``flipped`` | bool scalar | whether the network inputs are mirrored left to right |
| ``offsets`` | S int64 | the source offsets, in the order of ``sources`` |
| ``distances`` | S float32 | metres travelled from the target to each source, from the |
|  |  | vehicle's recorded speed (:mod:`~defeat_ros.data.travel`); NaN where unknown |
| ``stamp`` | float64 scalar | capture time of the target in seconds (NaN when unknown) |
| ``index`` | int64 scalar | the sample's index in its dataset |
| ``name`` | str | where the target comes from, e.g. ``<drive> 0000000005 l`` |
| ``depth`` | 1 x H x W float32 | ground-truth depth in metres, 0 where unknown (only datasets |
|  |  | with ground truth; every sample of such a dataset has it) |
| ``labels`` | H x W uint8 | per-pixel class of the target frame t as train ids 0..19 |
|  |  | (:mod:`defeat_ros.semantics`; 19: moving car), 255 (``IGNORE``) where unlabelled; |
|  |  | a loss target: aligned with ``target``, never flipped; every sample of every |
|  |  | dataset has it (all 255 where the source has no labels) |

The network-input keys are :data:`NETWORK_INPUTS`, the loss-target keys :data:`LOSS_TARGETS`.
Images are resized from their native size to H x W with area interpolation; intrinsics are
normalised by image size, so resizing does not change them. Labels are resized with nearest
neighbour sampling (:func:`~defeat_ros.data.image_ops.resize_labels`), so only ids that occur
in the source appear. Like ``depth``, ``labels`` belong to the loss targets: whatever a network
predicts from a flipped input is flipped back (:func:`~defeat_ros.data.augment.unflip_images`)
before it meets them. See :mod:`defeat_ros.data.augment`
for the augmentations and how to undo a flip on predictions. ``torch.utils.data``'s default
collate stacks samples into a batch (``name`` becomes a list).
"""

from dataclasses import dataclass, field

from defeat_ros.data.augment import augment, AugmentConfig
from defeat_ros.data.frame_windows import check_offsets
from defeat_ros.semantics import IGNORE
from defeat_ros.typed_config import TypedConfig
import torch

NETWORK_INPUTS = ('target_aug', 'sources_aug', 'k_norm_aug')
"""Keys the networks see: augmented copies of the frames and their intrinsics."""

LOSS_TARGETS = ('target', 'sources', 'k_norm')
"""Keys the losses compare against: the unaugmented frames and their intrinsics."""

GROUND_TRUTH = ('depth', 'labels')
"""Per-pixel ground truth of the target frame: aligned with ``target``, never augmented."""


@dataclass
class SampleConfig(TypedConfig):
    """What every dataset returns: resolution, source offsets and augmentation."""

    height: int = 192
    """Training image height in pixels (images are resized to it with area interpolation)."""
    width: int = 640
    """Training image width in pixels."""
    offsets: list = field(default_factory=lambda: [-1, 1])
    """Source frame offsets relative to the target, in the order of ``sources`` ([]: none)."""
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    """Colour jitter and flips of the network inputs (a mapping in YAML)."""
    seed: int = 0
    """Seed of the augmentation draws: sample i of epoch e draws from seed (seed, e, i)."""

    def __post_init__(self):
        """Check the resolution and offsets; accept the augmentation as a mapping."""
        if self.height < 1 or self.width < 1:
            raise ValueError(f'height and width must be positive, got {self.height}x{self.width}')
        self.offsets = list(check_offsets(self.offsets))
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig.from_dict(self.augment)


def as_sample_config(sample):
    """Return a SampleConfig from one, a mapping of its fields, or None (the defaults)."""
    if sample is None:
        return SampleConfig()
    if isinstance(sample, dict):
        return SampleConfig.from_dict(sample)
    return sample


def build_sample(frames, k_norm, augmentation, offsets, index, name, stamp=float('nan'),
                 depth=None, distances=None, labels=None):
    """
    Assemble a sample from its frames (target first) and the drawn augmentation.

    :param frames: (1 + S) x 3 x H x W float32 in [0, 1]: the target, then the sources.
    :param k_norm: 3 x 3 normalised intrinsics.
    :param augmentation: the sample's :class:`~defeat_ros.data.augment.Augmentation`.
    :param offsets: the S source offsets.
    :param index: the sample's dataset index.
    :param name: where the target frame comes from.
    :param stamp: capture time of the target (seconds).
    :param depth: H x W float32 tensor of ground truth, or None when the dataset has none.
    :param distances: S float metres travelled to each source (NaN unknown); None: unknown.
    :param labels: H x W uint8 tensor of train ids of the target (aligned with ``frames[0]``,
        unflipped); None: all IGNORE.
    :return: the sample dict (see the module docstring).
    """
    k_norm = k_norm.to(torch.float32)
    frames_aug, k_norm_aug = augment(frames, k_norm, augmentation)
    sample = {
        'target': frames[0],
        'sources': frames[1:],
        'k_norm': k_norm,
        'target_aug': frames_aug[0],
        'sources_aug': frames_aug[1:],
        'k_norm_aug': k_norm_aug,
        'flipped': torch.tensor(augmentation.flip),
        'offsets': torch.tensor(offsets, dtype=torch.int64),
        'distances': (torch.full((len(offsets),), float('nan')) if distances is None
                      else torch.as_tensor(distances, dtype=torch.float32)),
        'stamp': torch.tensor(stamp, dtype=torch.float64),
        'index': torch.tensor(index, dtype=torch.int64),
        'name': name,
    }
    if depth is not None:
        sample['depth'] = depth.view(1, *depth.shape[-2:])
    height, width = frames.shape[-2:]
    if labels is None:
        labels = torch.full((height, width), IGNORE, dtype=torch.uint8)
    if labels.shape != (height, width) or labels.dtype != torch.uint8:
        raise ValueError(f'labels must be uint8 {height} x {width} train ids, got '
                         f'{labels.dtype} {tuple(labels.shape)}')
    sample['labels'] = labels
    return sample
