"""FrameSequence: rendered frames with exact ground truth, shared by every synthetic source."""

from dataclasses import dataclass

import torch


@dataclass
class FrameSequence:
    """
    F frames from one camera with exact depth, poses, intrinsics and timing.

    Shapes: F frames, H x W pixels.
    """

    images: torch.Tensor
    """F x 3 x H x W RGB in [0, 1]."""
    depths: torch.Tensor
    """F x 1 x H x W z-depth in metres along the optical axis; inf where nothing is hit (sky)."""
    poses: torch.Tensor
    """F x 4 x 4 T_world_camera (optical camera frame to world)."""
    k_norm: torch.Tensor
    """3 x 3 intrinsics normalised by image size (corner convention, see geometry.py)."""
    stamps: torch.Tensor
    """F float64 capture times in seconds from the start of the sequence."""
    moving: torch.Tensor = None
    """F x 1 x H x W bool, pixels that belong to independently moving objects."""
    night: bool = False
    """Whether the frames were rendered with night lighting and sensor noise."""
    labels: torch.Tensor = None
    """F x 1 x H x W uint8 Cityscapes label-file ids per pixel (:mod:`defeat_ros.semantics`:
    road 7, car 26, :data:`~defeat_ros.semantics.MOVING_CAR_ID` for moving cars, sky 23, ...;
    0 unlabelled), aligned with ``depths``; None when the source has no classes (writers then
    write no labels and datasets give IGNORE)."""

    def __post_init__(self):
        """Fill the moving mask with False when the scene is static."""
        if self.moving is None:
            self.moving = torch.zeros_like(self.depths, dtype=torch.bool)

    def __len__(self):
        """Return the number of frames."""
        return self.images.shape[0]

    @property
    def height(self):
        """Image height in pixels."""
        return self.images.shape[-2]

    @property
    def width(self):
        """Image width in pixels."""
        return self.images.shape[-1]
