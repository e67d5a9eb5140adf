"""
The procedural street: a curving road, buildings, trees, hedges, cars, poles and lamps.

World frame: x right, y down (gravity), z forward along the road at the start; the ground is the
plane y = camera_height, so a camera at y = 0 sits at that height. Every object is a box with a
yaw about the vertical axis. Boxes are stored as tensors (one row per box) so the renderer can
cull and intersect them without Python objects.
"""

from dataclasses import dataclass, fields
import math

import torch

ROAD_HALF_WIDTH = 5.5
"""Metres from the centre line to the kerb: two 3.5 m lanes plus 2 m parking strips."""
LANE_EDGE = 3.5
"""Metres from the centre line to the solid edge line between lane and parking strip."""
EGO_LANE_OFFSET = 1.75
"""The camera drives in the right-hand lane."""

PAINT_SEED_OFFSET = 7919
"""Added to the seed for the facade paint's generator (any constant apart from 0 would do)."""
GREENERY_SEED_OFFSET = 104729
"""Added to the seed for the planting's generator (another constant than the paint's)."""

BUILDING, CAR, POLE, LAMP, FOLIAGE, TRUNK = range(6)
"""Box kinds: they choose the material in the renderer."""
TREE_SPACING = 6.0
"""Metres of planted plot per tree (at least one tree per plot)."""
CANOPY_LOBES = 3
"""Boxes per tree crown: overlapping, turned and offset, for an irregular outline."""


@dataclass
class Boxes:
    """
    M oriented boxes.

    centres M x 3 and half_sizes M x 3 (box x across the road, y down, z along it), yaw M
    about the world y axis, kind M (BUILDING, CAR, POLE, LAMP, FOLIAGE or TRUNK), colour M x 3
    albedo, and pattern M, a per-box random number that varies windows, lit windows and leaves.
    """

    centres: torch.Tensor
    half_sizes: torch.Tensor
    yaw: torch.Tensor
    kind: torch.Tensor
    colour: torch.Tensor
    pattern: torch.Tensor

    def __len__(self):
        """Return the number of boxes."""
        return self.centres.shape[0]

    @staticmethod
    def concatenate(parts):
        """Join several Boxes into one."""
        return Boxes(*[torch.cat([getattr(p, f.name) for p in parts]) for f in fields(Boxes)])

    def select(self, keep):
        """Return the boxes where the boolean mask ``keep`` (M) is set."""
        return Boxes(*[getattr(self, f.name)[keep] for f in fields(self)])


class Road:
    """
    Centre line x_c(z) made of smooth S-bends; heading(z) = atan(dx_c/dz).

    Each bend shifts the road sideways by ``shift`` metres over a length set by ``width``,
    which turns the heading by up to atan(shift / (2 width)).
    """

    def __init__(self, bends):
        """Bends: list of (z_centre, shift, width) in metres."""
        self.bends = torch.tensor(bends, dtype=torch.float32).view(-1, 3)

    def centre_x(self, z):
        """Lateral position of the centre line at forward positions z (any shape)."""
        zc, shift, width = (self.bends[:, i].view(-1, *([1] * z.dim())) for i in range(3))
        return (0.5 * shift * (1 + torch.tanh((z - zc) / width))).sum(0)

    def slope(self, z):
        """Return the derivative dx_c/dz at z."""
        zc, shift, width = (self.bends[:, i].view(-1, *([1] * z.dim())) for i in range(3))
        return (0.5 * shift / width / torch.cosh((z - zc) / width) ** 2).sum(0)

    def heading(self, z):
        """Road direction at z as a yaw angle (0 = straight along +z, positive towards +x)."""
        return torch.atan(self.slope(z))

    def frame(self, z, lateral):
        """World (x, z) of the point ``lateral`` metres right of the centre line at z."""
        theta = self.heading(z)
        return self.centre_x(z) + lateral * torch.cos(theta), z - lateral * torch.sin(theta)

    def lateral_and_along(self, x, z):
        """Approximate (signed lateral offset, arc length) of ground points (x, z)."""
        theta = self.heading(z)
        lateral = (x - self.centre_x(z)) * torch.cos(theta)
        return lateral, z / torch.cos(theta).clamp(min=0.5)


def yaw_boxes(road, z, lateral, height_above_ground, half_sizes, kind, colour, pattern,
              camera_height, yaw_offset=0.0):
    """Place boxes on the road frame at (z, lateral), standing on the ground, aligned with it."""
    x, zz = road.frame(z, lateral)
    y = camera_height - height_above_ground - half_sizes[:, 1]
    centres = torch.stack([x, y, zz], dim=1)
    yaw = road.heading(z) + yaw_offset
    return Boxes(centres, half_sizes, yaw, torch.full_like(z, kind, dtype=torch.long), colour,
                 pattern)


class StreetLayout:
    """
    Everything in the street, generated deterministically from a seed for a road ``length``.

    ``static`` holds the buildings, parked cars, poles and lamp heads; ``moving_at(t, ego_z)``
    the moving cars at time t; ``lamp_positions`` the street-light sources.
    """

    def __init__(self, length, world):
        """
        Lay out a street ``length`` metres long (plus margins) from ``world.seed``.

        :param world: the :class:`~defeat_ros.data.street_world.WorldConfig` whose seed,
            camera height, moving cars, street shape (``sidewalk_width``, ``max_setback``,
            ``building_gap``), facade paint (``grey_facades``) and planting (``vegetation``) to
            lay out.
        """
        self.gen = torch.Generator().manual_seed(world.seed)
        # Paint and planting have their own generators, so that they do not move the layout's
        # draws: the same seed gives the same street, buildings or trees on its plots.
        self.paint = torch.Generator().manual_seed(world.seed + PAINT_SEED_OFFSET)
        self.greenery = torch.Generator().manual_seed(world.seed + GREENERY_SEED_OFFSET)
        self.world = world
        self.length = length
        bends = [(float(z), float(self.sign() * self.uniform(8, 20)), float(self.uniform(12, 25)))
                 for z in torch.arange(60.0, length + 150.0, 140.0)]
        self.road = Road(bends or [(1e6, 0.0, 10.0)])
        self.static = Boxes.concatenate([self.buildings(), self.parked_cars(), self.lamps()])
        self.lamp_positions = self.lamp_sources()
        self.moving = self.moving_car_plans(world.moving_cars)

    def uniform(self, low, high, n=None, generator=None):
        """Uniform samples in [low, high) from ``generator`` (default: the layout's)."""
        shape = () if n is None else (n,)
        return low + (high - low) * torch.rand(shape, generator=generator or self.gen)

    def sign(self):
        """Draw a random sign, -1 or 1."""
        return 1.0 if float(self.uniform(0, 1)) < 0.5 else -1.0

    def colours(self, n, low, high):
        """N random albedo colours with channels in [low, high)."""
        return low + (high - low) * torch.rand(n, 3, generator=self.gen)

    def facade_colours(self, n):
        """
        N facade albedos: random colours, a ``world.grey_facades`` share of them grey or white.

        Grey and white facades have a level in [0.3, 0.95) with a faint tint (a few per cent
        per channel); the others have channels in [0.25, 0.8).
        """
        colours = self.colours(n, 0.25, 0.8)
        grey = torch.rand(n, 1, generator=self.paint) < self.world.grey_facades
        level = 0.3 + 0.65 * torch.rand(n, 1, generator=self.paint)
        tint = 1.0 + 0.06 * (torch.rand(n, 3, generator=self.paint) - 0.5)
        return torch.where(grey, (level * tint).clamp(0, 1), colours)

    def buildings(self):
        """
        Facades on both sides, with random lengths, heights, setbacks and gaps.

        A ``world.vegetation`` share of the plots holds trees and a hedge (:meth:`plants`)
        instead of its building.
        """
        parts = []
        for side in (-1.0, 1.0):
            z = -30.0
            zs, sizes = [], []
            while z < self.length + 200.0:
                length = float(self.uniform(8.0, 22.0))
                if float(self.uniform(0, 1)) >= self.world.building_gap:
                    zs.append(z + length / 2)
                    sizes.append((5.0, float(self.uniform(3.0, 11.0)), length / 2 - 0.1))
                z += length
            n = len(zs)
            half = torch.tensor(sizes)
            setback = self.uniform(0.0, self.world.max_setback, n)
            lateral = side * (ROAD_HALF_WIDTH + self.world.sidewalk_width + setback + half[:, 0])
            centres = torch.tensor(zs)
            plots = yaw_boxes(self.road, centres, lateral, 0.0, half, BUILDING,
                              self.facade_colours(n), self.uniform(0, 1, n),
                              self.world.camera_height)
            planted = self.planting(0, 1, n) < self.world.vegetation
            parts += [plots.select(~planted),
                      self.plants(side, centres[planted], half[planted, 2])]
        return Boxes.concatenate(parts)

    def planting(self, low, high, n):
        """N uniform samples in [low, high) from the planting's generator."""
        return self.uniform(low, high, n, self.greenery)

    def plants(self, side, z, half_length):
        """
        Trees and hedges on the plots centred at forward positions z (P) of half lengths P.

        Most plots get a hedge 0.8-2 m high along the building line; every plot gets a tree per
        :data:`TREE_SPACING` metres, standing between the pavement and 4 m behind the building
        line: a trunk 1.8-3.5 m high under a crown of :data:`CANOPY_LOBES` leafy boxes.
        """
        front = ROAD_HALF_WIDTH + self.world.sidewalk_width
        height = self.world.camera_height
        hedged = self.planting(0, 1, len(z)) < 0.6
        n = int(hedged.sum())
        hedge_half = torch.stack([self.planting(0.4, 1.0, n), self.planting(0.4, 1.0, n),
                                  half_length[hedged] - 0.1], 1)
        hedges = yaw_boxes(self.road, z[hedged], side * (front + hedge_half[:, 0]), 0.0,
                           hedge_half, FOLIAGE, self.greens(n), self.planting(0, 1, n), height)
        count = (2 * half_length / TREE_SPACING).long().clamp(min=1)
        plot = torch.repeat_interleave(torch.arange(len(z)), count)
        n = len(plot)
        slot = torch.arange(n) - torch.repeat_interleave(count.cumsum(0) - count, count)
        along = (z[plot] - half_length[plot]
                 + (slot + self.planting(0.2, 0.8, n)) * 2 * half_length[plot] / count[plot])
        lateral = front + self.planting(1.0 - self.world.sidewalk_width, 4.0, n)
        trunk_height = self.planting(1.8, 3.5, n)
        radius = self.planting(0.12, 0.25, n)
        trunks = yaw_boxes(self.road, along, side * lateral, 0.0,
                           torch.stack([radius, trunk_height / 2, radius], 1), TRUNK,
                           self.planting(0.2, 0.4, n).view(-1, 1) * torch.tensor([1.0, 0.8, 0.6]),
                           torch.zeros(n), height)
        lobes = torch.arange(n).repeat(CANOPY_LOBES)
        m = len(lobes)
        crowns = yaw_boxes(
            self.road, along[lobes] + self.planting(-1.0, 1.0, m),
            side * (lateral[lobes] + self.planting(-1.0, 1.0, m)),
            trunk_height[lobes] - 0.4 + self.planting(0.0, 1.2, m),
            torch.stack([self.planting(1.0, 2.6, m), self.planting(0.9, 2.2, m),
                         self.planting(1.0, 2.6, m)], 1),
            FOLIAGE, self.greens(m), self.planting(0, 1, m), height,
            yaw_offset=self.planting(0.0, math.pi / 2, m))
        return Boxes.concatenate([hedges, trunks, crowns])

    def greens(self, n):
        """N leaf albedos: greens from dark to yellowish, from the planting's generator."""
        return torch.stack([self.planting(0.08, 0.3, n), self.planting(0.18, 0.42, n),
                            self.planting(0.04, 0.14, n)], 1)

    def parked_cars(self):
        """Cars in the parking strips, about one per 9 m on each side."""
        parts = []
        for side in (-1.0, 1.0):
            slots = torch.arange(-20.0, self.length + 150.0, 6.0)
            keep = torch.rand(len(slots), generator=self.gen) < 0.55
            z = slots[keep] + self.uniform(-0.5, 0.5, int(keep.sum()))
            n = len(z)
            half = torch.tensor([0.9, 0.75, 2.15]).expand(n, 3)
            lateral = torch.full((n,), side * (LANE_EDGE + 1.0))
            parts.append(yaw_boxes(self.road, z, lateral, 0.15, half, CAR,
                                   self.colours(n, 0.1, 0.9), self.uniform(0, 1, n),
                                   self.world.camera_height))
        return Boxes.concatenate(parts)

    def lamp_z(self):
        """Forward positions of the street lights (every 28 m, staggered sides)."""
        return torch.arange(5.0, self.length + 150.0, 28.0)

    def lamps(self):
        """Place a pole on the pavement and a lamp head over the road, alternating sides."""
        z = self.lamp_z()
        n = len(z)
        side = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0)
        pole_half = torch.tensor([0.1, 3.5, 0.1]).expand(n, 3)
        poles = yaw_boxes(self.road, z, side * (ROAD_HALF_WIDTH + 0.5), 0.0, pole_half, POLE,
                          torch.full((n, 3), 0.45), torch.zeros(n), self.world.camera_height)
        head_half = torch.tensor([0.8, 0.1, 0.25]).expand(n, 3)
        heads = yaw_boxes(self.road, z, side * (ROAD_HALF_WIDTH - 0.3), 6.8, head_half, LAMP,
                          torch.full((n, 3), 0.8), torch.zeros(n), self.world.camera_height)
        return Boxes.concatenate([poles, heads])

    def lamp_sources(self):
        """World positions (L x 3) of the street-light sources, just below the lamp heads."""
        lamps = self.static.kind == LAMP
        centres = self.static.centres[lamps].clone()
        centres[:, 1] += self.static.half_sizes[lamps, 1] + 0.05
        return centres

    def moving_car_plans(self, count):
        """
        Plan the moving cars as tensors: oncoming ones (even indices) drive at the camera.

        ``start`` is the start z of an oncoming car and the mean gap ahead of the camera of a
        car in the ego lane; ``speed`` is m/s for oncoming cars and the rate (rad/s) at which a
        leading car's gap oscillates by 6 m.
        """
        oncoming = torch.arange(count) % 2 == 0
        return {
            'oncoming': oncoming,
            'start': torch.where(oncoming, self.uniform(40.0, self.length + 80.0, count),
                                 self.uniform(16.0, 30.0, count)),
            'speed': torch.where(oncoming, self.uniform(7.0, 12.0, count),
                                 self.uniform(0.15, 0.4, count)),
            'phase': self.uniform(0.0, 2 * math.pi, count),
            'colour': self.colours(count, 0.2, 0.95),
        }

    def moving_at(self, time, ego_z):
        """Place the moving cars at ``time`` s, the camera being at forward position ``ego_z``."""
        plan = self.moving
        oncoming = plan['oncoming']
        gap = plan['start'] + 6.0 * torch.sin(plan['speed'] * time + plan['phase'])
        z = torch.where(oncoming, plan['start'] - plan['speed'] * time, ego_z + gap)
        lateral = torch.where(oncoming, -EGO_LANE_OFFSET, EGO_LANE_OFFSET)
        n = len(z)
        half = torch.tensor([0.9, 0.75, 2.15]).expand(n, 3)
        boxes = yaw_boxes(self.road, z, lateral, 0.15, half, CAR, plan['colour'], torch.ones(n),
                          self.world.camera_height)
        boxes.yaw = boxes.yaw + torch.where(oncoming, math.pi, 0.0)
        return boxes
