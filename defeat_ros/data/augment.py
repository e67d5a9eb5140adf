"""
Training augmentations of a sample's network inputs: shared colour jitter and horizontal flips.

A sample keeps two copies of its frames (see :mod:`defeat_ros.data.sample`): the loss targets
(``target``, ``sources``), which are never augmented, and the network inputs (``target_aug``,
``sources_aug``), which this module jitters and flips. One :class:`Augmentation` is drawn per
sample and applied identically to all its frames, so the photometric relation between frames
is what the pose and depth networks learn from, not a per-frame colour change.

Colour jitter follows torchvision's ``ColorJitter`` operations in a fixed order: brightness,
contrast, saturation, hue, each factor drawn uniformly from ``[1 - x, 1 + x]`` (hue: a shift in
``[-hue, hue]`` of a full turn), results clamped to [0, 1]. Contrast blends each frame with the
mean grey of that frame (as torchvision does), with the same factor for all frames.

Horizontal flip, exactly: the flipped copy of a W-pixel-wide image is
``flipped[..., x] = image[..., W - 1 - x]``. In the corner convention of
:mod:`defeat_ros.geometry` a point at pixel coordinate ``u`` moves to ``W - u``, so with
normalised intrinsics the flipped copy is a pinhole camera with ``cx' = 1 - cx`` (``fx``,
``fy``, ``cy`` unchanged) looking at the mirrored scene (``X' = -X``). Samples carry that
matrix as ``k_norm_aug``. Whatever a network predicts from flipped inputs is in the mirrored
frame: :func:`unflip_images` flips dense outputs (depth, features) back, and
:func:`unflip_poses` maps relative poses back (``T = M T' M`` with ``M = diag(-1, 1, 1, 1)``)
before they meet the loss targets and ``k_norm``.
"""

from dataclasses import dataclass

from defeat_ros.typed_config import TypedConfig
import torch


@dataclass
class AugmentConfig(TypedConfig):
    """Colour jitter and flips of the network inputs (Monodepth2's defaults)."""

    enabled: bool = True
    """Augment at all (False for validation and evaluation: inputs equal the loss targets)."""
    jitter_probability: float = 0.5
    """Probability that a sample's frames are colour-jittered."""
    brightness: float = 0.2
    """Brightness factor drawn from [1 - brightness, 1 + brightness]."""
    contrast: float = 0.2
    """Contrast factor drawn from [1 - contrast, 1 + contrast]."""
    saturation: float = 0.2
    """Saturation factor drawn from [1 - saturation, 1 + saturation]."""
    hue: float = 0.1
    """Hue shift drawn from [-hue, hue] of a full turn (at most 0.5)."""
    flip_probability: float = 0.5
    """Probability that a sample's network inputs are flipped left to right."""

    def __post_init__(self):
        """Reject probabilities outside [0, 1] and impossible jitter ranges."""
        for name in ('jitter_probability', 'flip_probability'):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f'{name} must be in [0, 1], got {getattr(self, name)}')
        for name in ('brightness', 'contrast', 'saturation'):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f'{name} must be in [0, 1), got {getattr(self, name)}')
        if not 0.0 <= self.hue <= 0.5:
            raise ValueError(f'hue must be in [0, 0.5], got {self.hue}')


@dataclass
class Augmentation:
    """One sample's draw: jitter factors (1, 1, 1, 0 is no jitter) and whether to flip."""

    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    hue: float = 0.0
    flip: bool = False

    @property
    def jitters(self):
        """Whether any colour factor changes the image."""
        return (self.brightness, self.contrast, self.saturation, self.hue) != (1.0, 1.0, 1.0, 0.0)


def draw_augmentation(config, generator):
    """
    Draw one sample's augmentation.

    :param config: an :class:`AugmentConfig`.
    :param generator: the ``torch.Generator`` to draw from (seeded per sample by the dataset).
    :return: an :class:`Augmentation`; the identity when ``config.enabled`` is False.
    """
    if not config.enabled:
        return Augmentation()
    uniform = torch.rand(6, generator=generator, dtype=torch.float64).tolist()
    augmentation = Augmentation(flip=uniform[5] < config.flip_probability)
    if uniform[0] < config.jitter_probability:
        augmentation.brightness = 1.0 + config.brightness * (2.0 * uniform[1] - 1.0)
        augmentation.contrast = 1.0 + config.contrast * (2.0 * uniform[2] - 1.0)
        augmentation.saturation = 1.0 + config.saturation * (2.0 * uniform[3] - 1.0)
        augmentation.hue = config.hue * (2.0 * uniform[4] - 1.0)
    return augmentation


def jitter(frames, augmentation):
    """
    Apply the augmentation's colour jitter to all frames alike.

    :param frames: N x 3 x H x W RGB in [0, 1].
    :param augmentation: the :class:`Augmentation` to apply.
    :return: N x 3 x H x W RGB in [0, 1] (the input itself when nothing changes).
    """
    if not augmentation.jitters:
        return frames
    # Imported here: torchvision imports torch._dynamo (seconds), which the node, importing
    # this module for online fine-tuning's flips, should not pay at start-up.
    import torchvision.transforms.v2.functional as tvf
    frames = tvf.adjust_brightness(frames, augmentation.brightness)
    frames = tvf.adjust_contrast(frames, augmentation.contrast)
    frames = tvf.adjust_saturation(frames, augmentation.saturation)
    if augmentation.hue != 0.0:
        frames = tvf.adjust_hue(frames, augmentation.hue)
    return frames.clamp(0.0, 1.0)


def flip_intrinsics(k_norm):
    """Return the normalised intrinsics (... x 3 x 3) of flipped images (cx -> 1 - cx)."""
    flipped = k_norm.clone()
    flipped[..., 0, 2] = 1.0 - k_norm[..., 0, 2]
    return flipped


def augment(frames, k_norm, augmentation):
    """
    Return the network-input copies of a sample's frames and their intrinsics.

    :param frames: N x 3 x H x W RGB in [0, 1] (target and sources); left unchanged.
    :param k_norm: 3 x 3 normalised intrinsics of ``frames``.
    :param augmentation: the sample's :class:`Augmentation`.
    :return: (N x 3 x H x W jittered and possibly flipped frames, 3 x 3 intrinsics of them).
    """
    frames = jitter(frames, augmentation)
    if augmentation.flip:
        return torch.flip(frames, dims=[-1]), flip_intrinsics(k_norm)
    return frames, k_norm.clone()


def unflip_images(images, flipped):
    """
    Flip back the dense predictions of flipped samples so that they line up with loss targets.

    :param images: B x C x H x W (depth, disparity, features, ...), predicted from network inputs.
    :param flipped: B bool, the batch's ``flipped``.
    :return: B x C x H x W with the flipped samples mirrored back.
    """
    mask = flipped.to(device=images.device, dtype=torch.bool).view(-1, 1, 1, 1)
    return torch.where(mask, torch.flip(images, dims=[-1]), images)


def unflip_poses(poses, flipped):
    """
    Map relative poses predicted from flipped inputs back to the unflipped cameras.

    :param poses: B x 4 x 4 poses between cameras of the flipped (mirrored) views.
    :param flipped: B bool, the batch's ``flipped``.
    :return: B x 4 x 4: ``M @ T @ M`` with ``M = diag(-1, 1, 1, 1)`` where flipped, else ``T``.
    """
    mirror = poses.new_tensor([-1.0, 1.0, 1.0, 1.0])
    mirrored = poses * mirror.view(1, 4, 1) * mirror.view(1, 1, 4)
    mask = flipped.to(device=poses.device, dtype=torch.bool).view(-1, 1, 1)
    return torch.where(mask, mirrored, poses)
