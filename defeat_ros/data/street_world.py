"""
The synthetic driving world: a camera driving through a procedural street, by day and by night.

``render_sequence(WorldConfig(...))`` returns a :class:`FrameSequence` with exact depth, poses,
intrinsics, stamps, moving-object masks and per-pixel classes (Cityscapes label-file ids, see
:func:`~defeat_ros.data.street_render.classify`). Day and night share the geometry and
trajectory of a seed, so ``night=True`` gives the paired night drive.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
import math
import os

from defeat_ros.data.camera_sensor import DAY, expose, NIGHT
from defeat_ros.data.frame_sequence import FrameSequence
from defeat_ros.data.street_layout import Boxes, EGO_LANE_OFFSET, StreetLayout
from defeat_ros.data.street_render import cast, classify, pixel_rays, shade
from defeat_ros.geometry import axis_angle_to_matrix, scale_intrinsics
from defeat_ros.typed_config import TypedConfig
import torch


@dataclass
class WorldConfig(TypedConfig):
    """What to render. Intrinsics are normalised by image size (KITTI-like defaults)."""

    width: int = 640
    """Image width in pixels."""
    height: int = 192
    """Image height in pixels."""
    frames: int = 50
    """Number of frames."""
    fps: float = 10.0
    """Frame rate (Hz)."""
    seed: int = 0
    """Seed of the street layout, trajectory and noise: same seed, same output."""
    fx: float = 0.58
    """Focal length x / width."""
    fy: float = 1.92
    """Focal length y / height."""
    cx: float = 0.5
    """Principal point x / width (corner convention: 0.5 is the image centre)."""
    cy: float = 0.5
    """Principal point y / height."""
    camera_height: float = 1.65
    """Camera height above the road (m)."""
    min_speed: float = 5.0
    """Slowest speed of the drive (m/s)."""
    max_speed: float = 12.0
    """Fastest speed of the drive (m/s)."""
    moving_cars: int = 4
    """Moving cars: oncoming ones and ones driving ahead in the camera's lane."""
    sidewalk_width: float = 2.5
    """Pavement between the kerb and the building line (m, at least 1: street lights stand on
    it)."""
    max_setback: float = 2.0
    """Each building stands back from the building line by a distance drawn up to this (m)."""
    building_gap: float = 0.1
    """Probability that a building plot is left empty (a gap in the facade)."""
    grey_facades: float = 0.0
    """Share of the facades painted grey or white instead of a random colour."""
    vegetation: float = 0.0
    """Share of the building plots planted with trees (and most with a hedge) instead."""
    night: bool = False
    """Night lighting (headlights, street lights, lit windows) and a high-gain noisy sensor."""
    motion_blur: int = 0
    """Sub-frames averaged over the exposure (0 or 1: none); costs that many renders."""
    exposure: float = 0.03
    """Exposure time (s) over which motion blur integrates."""
    sensor_noise: bool = True
    """Add shot and read noise (False gives clean images, e.g. to measure the noise)."""
    glare: bool = True
    """Bloom around bright lights at night."""
    gamma: float = 1.0
    """The camera's tone curve: recorded value = linear signal ** (1 / gamma); 1 records linear
    radiance, 2.2 is about sRGB (what most real cameras deliver: brighter shadows)."""

    def __post_init__(self):
        """Reject settings that cannot be rendered."""
        if self.width < 8 or self.height < 8:
            raise ValueError(f'image must be at least 8x8, got {self.width}x{self.height}')
        if self.frames < 1 or self.fps <= 0:
            raise ValueError(f'need frames >= 1 and fps > 0, got {self.frames}, {self.fps}')
        if (self.sidewalk_width < 1 or self.max_setback < 0 or not 0 <= self.building_gap < 1
                or not 0 <= self.grey_facades <= 1 or not 0 <= self.vegetation <= 1):
            raise ValueError('need sidewalk_width >= 1 (the street lights stand on it), '
                             'max_setback >= 0, building_gap in [0, 1), grey_facades and '
                             f'vegetation in [0, 1], got {self.sidewalk_width}, '
                             f'{self.max_setback}, {self.building_gap}, {self.grey_facades}, '
                             f'{self.vegetation}')
        if self.gamma <= 0:
            raise ValueError(f'need gamma > 0, got {self.gamma}')
        if not 0 < self.min_speed <= self.max_speed:
            raise ValueError(f'need 0 < min_speed <= max_speed, got {self.min_speed}, '
                             f'{self.max_speed}')

    def k_norm(self):
        """Normalised intrinsics 3 x 3."""
        return torch.tensor([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy],
                             [0.0, 0.0, 1.0]])


def rotation(yaw, pitch, roll):
    """World-from-camera rotation: yaw about y, then pitch about x, then roll about z."""
    def about(axis, angle):
        vector = torch.zeros(1, 3)
        vector[0, axis] = angle
        return axis_angle_to_matrix(vector)[0]
    return about(1, yaw) @ about(0, pitch) @ about(2, roll)


class Trajectory:
    """The ego drive: speed changes, lane keeping with a little weave, pitch and roll."""

    def __init__(self, layout, config):
        """Plan the drive along ``layout``'s road for the config's duration."""
        self.layout = layout
        gen = torch.Generator().manual_seed(config.seed + 7)
        self.phase = (2 * math.pi * torch.rand(6, generator=gen)).tolist()
        self.mean_speed = 0.5 * (config.min_speed + config.max_speed)
        self.speed_swing = 0.5 * (config.max_speed - config.min_speed)
        self.duration = (config.frames + 1) / config.fps
        self.step = 0.01
        times = torch.arange(0.0, self.duration + self.step, self.step)
        speed = self.mean_speed + self.speed_swing * torch.sin(0.35 * times + self.phase[0])
        z = torch.zeros_like(times)
        for i in range(1, len(times)):  # follow the road: forward progress is speed * cos(heading)
            heading = self.layout.road.heading(z[i - 1:i])
            z[i] = z[i - 1] + speed[i - 1] * self.step * torch.cos(heading)[0]
        self.z = z

    def forward_position(self, time):
        """Forward coordinate z of the camera at ``time`` (s)."""
        index = min(int(round(time / self.step)), len(self.z) - 1)
        return self.z[index]

    def pose(self, time):
        """T_world_camera (4 x 4) at ``time`` seconds."""
        p = self.phase
        z = self.forward_position(time).view(1)
        lateral = EGO_LANE_OFFSET + 0.25 * math.sin(0.4 * time + p[1])
        x, z_world = self.layout.road.frame(z, torch.tensor([lateral]))
        yaw = float(self.layout.road.heading(z)) + 0.015 * math.sin(0.7 * time + p[2])
        pitch = 0.012 * math.sin(1.3 * time + p[3])
        roll = 0.01 * math.sin(0.9 * time + p[4])
        bounce = 0.015 * math.sin(2.1 * time + p[5])
        pose = torch.eye(4)
        pose[:3, :3] = rotation(yaw, pitch, roll)
        pose[:3, 3] = torch.tensor([float(x), bounce, float(z_world)])
        return pose


class StreetWorld:
    """A layout, a trajectory and the renderer, ready to produce frames."""

    def __init__(self, config):
        """Build the street for ``config`` (deterministic per seed)."""
        self.config = config
        length = config.max_speed * config.frames / config.fps + 40.0
        self.layout = StreetLayout(length, config)
        self.trajectory = Trajectory(self.layout, config)
        self.k_pix = scale_intrinsics(config.k_norm(), config.height, config.width)
        self.rays = pixel_rays(self.k_pix, config.height, config.width)

    def scene_at(self, time):
        """All boxes at ``time`` and the index where the moving cars start."""
        ego_z = self.trajectory.forward_position(time)
        moving = self.layout.moving_at(time, ego_z)
        return Boxes.concatenate([self.layout.static, moving]), len(self.layout.static)

    def radiance(self, time):
        """Camera pose, hits, first moving box, linear radiance 3 x H x W and boxes at ``time``."""
        cfg = self.config
        pose = self.trajectory.pose(time)
        boxes, moving_start = self.scene_at(time)
        hits = cast(boxes, pose, self.rays, cfg.height, cfg.width, cfg.camera_height, self.k_pix)
        radiance = shade(self.layout, boxes, moving_start, hits, pose, self.rays,
                         float(self.k_pix[1, 1]), cfg.height, cfg.width, cfg.night)
        return pose, hits, moving_start, radiance, boxes

    def frame(self, index):
        """
        Render frame ``index``.

        :return: (image 3 x H x W, depth 1 x H x W, moving mask 1 x H x W, pose 4 x 4, uint8
            label-file ids 1 x H x W). Depth, mask and classes are those at the frame time
            (the end of the exposure), also with motion blur.
        """
        cfg = self.config
        time = index / cfg.fps
        pose, hits, moving_start, radiance, boxes = self.radiance(time)
        labels = classify(self.layout.road, boxes, moving_start, hits)
        if cfg.motion_blur > 1:  # integrate the exposure that ends at the frame time
            for k in range(1, cfg.motion_blur):
                earlier = time - cfg.exposure * k / (cfg.motion_blur - 1)
                radiance = radiance + self.radiance(earlier)[3]
            radiance = radiance / cfg.motion_blur
        settings = NIGHT if cfg.night else DAY
        settings = replace(settings,
                           shot_noise=settings.shot_noise if cfg.sensor_noise else 0.0,
                           read_noise=settings.read_noise if cfg.sensor_noise else 0.0,
                           glare=settings.glare if cfg.glare else 0.0, gamma=cfg.gamma)
        generator = torch.Generator().manual_seed(cfg.seed * 100003 + index)
        image = expose(radiance, settings, generator)
        shape = (1, cfg.height, cfg.width)
        return (image, hits.depth.view(shape), (hits.surface >= moving_start).view(shape), pose,
                labels.view(shape))


def render_sequence(config, workers=None):
    """
    Render ``config.frames`` frames: a :class:`FrameSequence`.

    Frames render in ``workers`` threads (default: one per CPU core), each with single-threaded
    torch ops, which beats multi-threaded ops on these mid-sized tensors. Output does not depend
    on the number of workers.
    """
    world = StreetWorld(config)
    workers = workers or os.cpu_count() or 1
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            frames = list(pool.map(world.frame, range(config.frames)))
    finally:
        torch.set_num_threads(threads)
    return FrameSequence(
        images=torch.stack([f[0] for f in frames]),
        depths=torch.stack([f[1] for f in frames]),
        poses=torch.stack([f[3] for f in frames]),
        k_norm=config.k_norm(),
        stamps=torch.arange(config.frames, dtype=torch.float64) / config.fps,
        moving=torch.stack([f[2] for f in frames]),
        night=config.night,
        labels=torch.stack([f[4] for f in frames]),
    )
