"""
A textured corridor rendered by exact ray casting: the smallest scene with true depth and pose.

Five planes (floor, ceiling, two walls, an end wall) in a world frame that is the optical frame of
a camera at the origin (x right, y down, z forward). Every pixel hits a plane, so depth is exact
everywhere; smooth multi-frequency textures give photometric losses gradients. Used by the
geometry and loss tests and by the interim demo.
"""

from dataclasses import dataclass

from defeat_ros.data.frame_sequence import FrameSequence
from defeat_ros.geometry import (normalise_intrinsics, pixel_grid, pose_to_matrix,
                                 scale_intrinsics)
import torch
import torch.nn.functional as F


@dataclass
class Corridor:
    """Plane offsets in metres (world = first camera's optical frame)."""

    floor: float = 1.5
    ceiling: float = -3.5
    left: float = -4.0
    right: float = 4.0
    end: float = 40.0
    seed: int = 0

    def planes(self):
        """List of (normal 3, offset, in-plane axes (i, j)) with normal . X = offset."""
        return [
            ((0.0, 1.0, 0.0), self.floor, (0, 2)),
            ((0.0, 1.0, 0.0), self.ceiling, (0, 2)),
            ((1.0, 0.0, 0.0), self.left, (1, 2)),
            ((1.0, 0.0, 0.0), self.right, (1, 2)),
            ((0.0, 0.0, 1.0), self.end, (0, 1)),
        ]

    def texture(self, plane_index, a, b):
        """Return a smooth RGB texture, 3 x N in [0.05, 0.95], at in-plane coordinates a, b (N)."""
        gen = torch.Generator().manual_seed(self.seed * 101 + plane_index)
        freqs = 0.1 + 0.7 * torch.rand(3, 4, 2, generator=gen)  # cycles per metre
        phases = 6.2832 * torch.rand(3, 4, generator=gen)
        base = 0.3 + 0.4 * torch.rand(3, 1, generator=gen)
        angle = 6.2832 * (freqs[..., 0:1] * a + freqs[..., 1:2] * b) + phases.unsqueeze(-1)
        return (base + 0.12 * torch.sin(angle).sum(dim=1)).clamp(0.05, 0.95)

    def render(self, t_world_camera, k_pix, height, width, supersample=2):
        """
        Image 3 x H x W in [0, 1] and exact z-depth 1 x H x W (m) seen by a camera.

        :param t_world_camera: 4 x 4 pose of the camera (maps camera points to world points).
        :param k_pix: 3 x 3 pixel intrinsics (corner convention) of the H x W image.
        :param supersample: colour is averaged over s x s rays per pixel against aliasing.
        """
        s = supersample
        k_fine = k_pix.clone()
        k_fine[:2] *= s
        colour, _ = self.cast(t_world_camera, k_fine, height * s, width * s)
        colour = F.avg_pool2d(colour.unsqueeze(0), s).squeeze(0)
        _, depth = self.cast(t_world_camera, k_pix, height, width)
        return colour, depth

    def cast(self, t_world_camera, k_pix, height, width):
        """Ray-cast every pixel centre: colour 3 x H x W and z-depth 1 x H x W."""
        rays = torch.linalg.inv(k_pix) @ pixel_grid(height, width)  # z component is 1
        directions = t_world_camera[:3, :3] @ rays
        origin = t_world_camera[:3, 3:]
        best = torch.full((rays.shape[1],), float('inf'))
        colour = torch.zeros(3, rays.shape[1])
        for index, (normal, offset, (i, j)) in enumerate(self.planes()):
            n = torch.tensor(normal).view(3, 1)
            along = (n * directions).sum(0)
            distance = (offset - (n * origin).sum(0)) / torch.where(along.abs() < 1e-9,
                                                                    torch.full_like(along, 1e-9),
                                                                    along)
            hit = (distance > 1e-6) & (distance < best)
            points = origin + distance * directions
            colour = torch.where(hit, self.texture(index, points[i], points[j]), colour)
            best = torch.where(hit, distance, best)
        return colour.view(3, height, width), best.view(1, height, width)


def render_drive(frames, height, width, speed=0.5, seed=0, corridor=None, fps=10.0):
    """Drive down the corridor at ``speed`` m/frame, weaving in x, yaw and pitch: FrameSequence."""
    corridor = corridor or Corridor(seed=seed)
    k_norm = normalise_intrinsics(0.58 * width, 1.92 * height, 0.5 * width - 0.5,
                                  0.5 * height - 0.5, width, height)
    k_pix = scale_intrinsics(k_norm, height, width)
    gen = torch.Generator().manual_seed(seed)
    phase = 6.2832 * torch.rand(3, generator=gen)
    index = torch.arange(frames, dtype=torch.float32)
    rotation = torch.stack([0.01 * torch.sin(0.3 * index + phase[0]),
                            0.04 * torch.sin(0.2 * index + phase[1]),
                            torch.zeros(frames)], dim=1)
    translation = torch.stack([0.6 * torch.sin(0.15 * index + phase[2]), torch.zeros(frames),
                               speed * index], dim=1)
    poses = pose_to_matrix(rotation, translation)
    rendered = [corridor.render(pose, k_pix, height, width) for pose in poses]
    return FrameSequence(images=torch.stack([r[0] for r in rendered]),
                         depths=torch.stack([r[1] for r in rendered]), poses=poses,
                         k_norm=k_norm, stamps=index.double() / fps)
