"""
Ray casting and shading of a StreetLayout: exact depth, object ids, classes and radiance per pixel.

Geometry pass: every pixel ray is intersected with the ground plane and, inside each box's
projected bounding rectangle only, with the box (slab test in the box frame); the nearest hit
wins. Shading pass: procedural albedo per surface (asphalt, markings, kerbs, paving, facades
with windows, leaves, bark, cars, poles, lamps, sky) lit by the sun (day) or by headlights,
street lights and emissive surfaces with inverse-square falloff (night). Radiance is linear and
unclipped; the camera sensor model turns it into an image.

Classes (:func:`classify`, a by-product of the hit): every pixel gets the Cityscapes label-file
id (:mod:`defeat_ros.semantics`) of the surface its ray hits first:

| surface | label-file id |
| --- | --- |
| ground within ``ROAD_HALF_WIDTH`` of the centre line (lanes, markings, parking strips) | road 7 |
| ground beyond it (kerb, pavement, the paved ground between and behind buildings) | sidewalk 8 |
| building boxes | building 11 |
| tree crowns, trunks and hedges (Cityscapes counts trunks as vegetation) | vegetation 21 |
| pole boxes and lamp heads (a street light is a pole in Cityscapes) | pole 17 |
| parked (static) cars | car 26 |
| moving cars (boxes from ``moving_start`` on) | :data:`~defeat_ros.semantics.MOVING_CAR_ID` 34 |
| sky (no hit within :data:`MAX_DISTANCE`) | sky 23 |

Each pixel is classified by the hit at its centre (no anti-aliasing), so the classes agree
exactly with the depth (sky where it is inf) and the moving mask (``surface >= moving_start``).
"""

from dataclasses import dataclass
import math

from defeat_ros.data.street_layout import (BUILDING, CAR, FOLIAGE, LAMP, LANE_EDGE, POLE,
                                           ROAD_HALF_WIDTH, TRUNK)
from defeat_ros.geometry import pixel_grid
from defeat_ros.semantics import CLASSES
import torch

SKY, GROUND = -1, -2
"""Surface ids of pixels that hit no box."""
MAX_DISTANCE = 250.0
"""Rays that hit nothing within this range (m) see the sky."""
NEAR = 0.05
"""Near clipping distance (m) of the camera."""
CORNER_PAIRS = torch.combinations(torch.arange(8), 2)
"""All 28 pairs of box corners: their crossings of the near plane bound a clipped box."""


LABEL_ID = {name: label for _, label, name, _ in CLASSES}
"""Cityscapes label-file id of every class name of :mod:`defeat_ros.semantics`."""
KIND_LABELS = torch.zeros(max(BUILDING, CAR, POLE, LAMP, FOLIAGE, TRUNK) + 1, dtype=torch.uint8)
KIND_LABELS[BUILDING] = LABEL_ID['building']
KIND_LABELS[CAR] = LABEL_ID['car']
KIND_LABELS[POLE] = LABEL_ID['pole']
KIND_LABELS[LAMP] = LABEL_ID['pole']
KIND_LABELS[FOLIAGE] = LABEL_ID['vegetation']
KIND_LABELS[TRUNK] = LABEL_ID['vegetation']
"""Label-file id of each box kind (cars: parked; moving cars get ``moving car`` instead)."""

SUN = torch.nn.functional.normalize(torch.tensor([-0.4, -0.8, 0.45]), dim=0)
"""Direction towards the sun in the world frame (y down, so the sun is above)."""


@dataclass
class Hits:
    """Nearest surface of every pixel ray (N = H * W rays, row-major)."""

    depth: torch.Tensor
    """N z-depth in metres (the rays have unit z in the camera frame); inf for sky."""
    surface: torch.Tensor
    """N long: box index, GROUND or SKY."""
    local: torch.Tensor
    """N x 3 hit point in the box frame (boxes) or the world frame (ground)."""
    axis: torch.Tensor
    """N long: the box face's axis (0 x, 1 y, 2 z)."""
    sign: torch.Tensor
    """N float: +1 if the face is on the positive side of that axis, else -1."""


def yaw_matrices(yaw):
    """Rotations about the y axis, M x 3 x 3 (box frame -> world)."""
    c, s = torch.cos(yaw), torch.sin(yaw)
    zero, one = torch.zeros_like(yaw), torch.ones_like(yaw)
    return torch.stack([torch.stack([c, zero, s], -1), torch.stack([zero, one, zero], -1),
                        torch.stack([-s, zero, c], -1)], dim=1)


BOX_CORNERS = torch.tensor([[x, y, z] for x in (-1.0, 1.0) for y in (-1.0, 1.0)
                            for z in (-1.0, 1.0)])


def pixel_rays(k_pix, height, width):
    """Camera-frame rays 3 x N through the pixel centres, with unit z."""
    return torch.linalg.inv(k_pix) @ pixel_grid(height, width)


def cast(boxes, t_world_camera, rays, height, width, camera_height, k_pix):
    """
    Intersect every pixel ray with the ground and the boxes: :class:`Hits`.

    ``rays`` are the camera-frame pixel rays 3 x N of :func:`pixel_rays` for ``k_pix``.
    """
    rot, origin = t_world_camera[:3, :3], t_world_camera[:3, 3]
    directions = rot @ rays
    n = rays.shape[1]
    down = directions[1]
    ground_t = (camera_height - origin[1]) / torch.where(down > 1e-6, down, torch.ones_like(down))
    ground = (down > 1e-6) & (ground_t < MAX_DISTANCE)
    depth = torch.where(ground, ground_t, torch.full_like(ground_t, math.inf))
    surface = torch.where(ground, GROUND, SKY)
    local = (origin.view(3, 1) + depth.clamp(max=MAX_DISTANCE) * directions).t().contiguous()
    axis = torch.ones(n, dtype=torch.long)
    sign = -torch.ones(n)
    rotations = yaw_matrices(boxes.yaw)
    to_box = rotations.transpose(1, 2)
    box_rays = to_box @ rot  # camera ray -> box-frame direction
    box_origins = (to_box @ (origin - boxes.centres).unsqueeze(-1)).squeeze(-1)
    for b, (r0, r1, c0, c1), nearest in screen_rectangles(boxes, rotations, rot, origin, k_pix,
                                                          height, width):
        pixel = (torch.arange(r0, r1).view(-1, 1) * width + torch.arange(c0, c1)).view(-1)
        pixel = pixel[depth[pixel] > nearest]  # already hidden by something nearer
        d = box_rays[b] @ rays[:, pixel]
        o = box_origins[b].view(3, 1)
        half = boxes.half_sizes[b].view(3, 1)
        inverse = 1.0 / torch.where(d.abs() < 1e-9, torch.full_like(d, 1e-9), d)
        t1 = (-half - o) * inverse
        t2 = (half - o) * inverse
        t_near, face = torch.minimum(t1, t2).max(dim=0)
        t_far = torch.maximum(t1, t2).min(dim=0).values
        win = (t_near <= t_far) & (t_near > NEAR) & (t_near < depth[pixel])
        chosen = pixel[win]
        t_hit = t_near[win]
        d_hit = d[:, win]
        face = face[win]
        depth[chosen] = t_hit
        surface[chosen] = b
        local[chosen] = (o + t_hit * d_hit).t()
        axis[chosen] = face
        sign[chosen] = -torch.sign(d_hit.gather(0, face.view(1, -1)).view(-1))
    return Hits(depth, surface, local, axis, sign)


def screen_rectangles(boxes, rotations, rot, origin, k_pix, height, width, max_distance=160.0):
    """
    List (box, (r0, r1, c0, c1), nearest depth) of the pixel rectangles covering visible boxes.

    The list runs from the nearest box to the farthest, so that the caller can skip pixels
    already hidden by something nearer. Boxes beyond ``max_distance``, wholly behind the
    camera or off-screen are left out. Boxes reaching behind the camera are clipped at the near
    plane: the rectangle bounds their corners in front of it and the points where
    corner-to-corner segments cross it.
    """
    corners = boxes.centres.unsqueeze(1) + (BOX_CORNERS * boxes.half_sizes.unsqueeze(1)) @ \
        rotations.transpose(1, 2)
    camera = (corners - origin) @ rot  # M x 8 x 3
    a, b = camera[:, CORNER_PAIRS[:, 0]], camera[:, CORNER_PAIRS[:, 1]]  # M x 28 x 3
    za, zb = a[..., 2:], b[..., 2:]
    crossing = (za - NEAR) * (zb - NEAR) < 0
    fraction = ((NEAR - za) / torch.where(crossing, zb - za, torch.ones_like(za))).clamp(0, 1)
    points = torch.cat([camera, a + fraction * (b - a)], dim=1)  # M x 36 x 3
    valid = torch.cat([camera[..., 2] >= NEAR, crossing[..., 0]], dim=1)
    projected = points @ k_pix.t()
    z = projected[..., 2].clamp(min=NEAR)
    u = projected[..., 0] / z
    v = projected[..., 1] / z
    big = torch.tensor(1e9)
    c0 = torch.where(valid, u, big).min(dim=1).values.floor().clamp(0, width).long()
    c1 = (torch.where(valid, u, -big).max(dim=1).values.ceil() + 1).clamp(0, width).long()
    r0 = torch.where(valid, v, big).min(dim=1).values.floor().clamp(0, height).long()
    r1 = (torch.where(valid, v, -big).max(dim=1).values.ceil() + 1).clamp(0, height).long()
    near = (boxes.centres - origin).norm(dim=1) < max_distance + boxes.half_sizes.norm(dim=1)
    keep = near & valid.any(dim=1) & (c0 < c1) & (r0 < r1)
    nearest = torch.where(valid, points[..., 2], big).min(dim=1).values
    index = torch.nonzero(keep).view(-1)
    index = index[nearest[index].argsort()]
    rects = torch.stack([r0, r1, c0, c1], dim=1)[index].tolist()
    return list(zip(index.tolist(), rects, nearest[index].tolist()))


def classify(road, boxes, moving_start, hits):
    """
    Return the Cityscapes label-file id (N uint8) of every pixel's hit (module docstring).

    :param road: the layout's :class:`~defeat_ros.data.street_layout.Road`.
    :param boxes: the boxes the hits index.
    :param moving_start: index of the first moving car in ``boxes``.
    :param hits: the :class:`Hits` of :func:`cast`.
    """
    surface = hits.surface
    box_labels = KIND_LABELS[boxes.kind]
    box_labels[moving_start:] = LABEL_ID['moving car']
    labels = box_labels[surface.clamp(min=0)] if len(boxes) else \
        torch.zeros(surface.shape, dtype=torch.uint8)
    labels = torch.where(surface == SKY, LABEL_ID['sky'], labels)
    ground = torch.nonzero(surface == GROUND).view(-1)
    lateral, _ = road.lateral_and_along(hits.local[ground, 0], hits.local[ground, 2])
    labels[ground] = torch.where(lateral.abs() < ROAD_HALF_WIDTH, LABEL_ID['road'],
                                 LABEL_ID['sidewalk']).to(torch.uint8)
    return labels


def hash2(x, y, salt=0.0):
    """Pseudo-random values in [0, 1) for integer lattice points (float tensors)."""
    h = torch.sin(x * 127.1 + y * 311.7 + salt * 74.7) * 43758.5453
    return h - torch.floor(h)


def value_noise(x, y, salt=0.0):
    """Smooth noise in [0, 1) with unit lattice spacing, bilinearly interpolated."""
    x = torch.remainder(x, 1024.0)
    y = torch.remainder(y, 1024.0)
    xi, yi = torch.floor(x), torch.floor(y)
    fx, fy = x - xi, y - yi
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    top = torch.lerp(hash2(xi, yi, salt), hash2(xi + 1, yi, salt), fx)
    bottom = torch.lerp(hash2(xi, yi + 1, salt), hash2(xi + 1, yi + 1, salt), fx)
    return torch.lerp(top, bottom, fy)


def grey(value):
    """Grey albedo N x 3 from N values."""
    return value.view(-1, 1).expand(-1, 3)


def band(x, low, high, footprint):
    """Box-filtered indicator of low < x < high for pixels covering ``footprint`` metres."""
    return (((x - low) / footprint + 0.5).clamp(0, 1)
            * ((high - x) / footprint + 0.5).clamp(0, 1))


def periodic_band(x, period, low, high, footprint):
    """Filter the indicator of low < x mod period < high; fade to its mean for big pixels."""
    inside = band(torch.remainder(x, period), low, high, footprint)
    fade = (footprint / period).clamp(0, 1)
    return torch.lerp(inside, torch.full_like(inside, (high - low) / period), fade)


def filtered_noise(x, y, scale, footprint, salt=0.0):
    """Value noise of ``scale`` cycles per metre, faded towards 0.5 where pixels are too big."""
    detail = (1.0 - footprint * scale).clamp(0, 1)
    return 0.5 + (value_noise(x * scale, y * scale, salt) - 0.5) * detail


def ground_albedo(road, x, z, footprint):
    """Asphalt, lane markings, kerbs and paving at ground points (N each; pixel size m): N x 3."""
    lateral, along = road.lateral_and_along(x, z)
    side = lateral.abs()
    texture = (filtered_noise(x, z, 4.0, footprint) * 0.6
               + filtered_noise(x, z, 0.7, footprint, 1.0) * 0.4)
    # Repairs, stains and wear: metre-sized patches that stay visible far down the road, as on
    # real streets (a uniform road gives a self-supervised loss nothing to match there).
    patches = filtered_noise(x, z, 0.35, footprint, 2.0)
    asphalt = 0.12 + 0.12 * texture + 0.24 * patches
    marking = torch.maximum(band(side, -0.08, 0.08, footprint)
                            * periodic_band(along, 9.0, 0.5, 4.0, footprint),
                            band(side, LANE_EDGE - 0.12, LANE_EDGE, footprint))
    road_value = torch.lerp(asphalt, 0.75 + 0.1 * texture, marking)
    tile_edge = torch.maximum(periodic_band(along, 1.2, 0.03, 0.09, footprint),
                              periodic_band(side, 1.2, 0.03, 0.09, footprint))
    paving = 0.45 + 0.12 * texture - 0.12 * tile_edge
    kerb = band(side, ROAD_HALF_WIDTH, ROAD_HALF_WIDTH + 0.25, footprint)
    pavement_value = torch.lerp(paving, 0.62 + 0.1 * texture, kerb)
    on_road = band(side, -1e3, ROAD_HALF_WIDTH, footprint)
    return grey(torch.lerp(pavement_value, road_value, on_road))


def face_coordinates(local, axis, half):
    """(horizontal, height above the box bottom) on the hit face, metres."""
    horizontal = torch.where(axis == 0, local[:, 2], local[:, 0])
    height = half[:, 1] - local[:, 1]
    return horizontal, height


def window_cells(horizontal, height, pattern, footprint):
    """Return filtered window coverage and a random value per window (3 m bays, 3.2 m floors)."""
    bay = torch.floor(horizontal / 3.0)
    storey = torch.floor(height / 3.2)
    window = (periodic_band(horizontal, 3.0, 0.75, 2.25, footprint)
              * periodic_band(height, 3.2, 0.96, 2.56, footprint) * (storey >= 1))
    return window, hash2(bay, storey, pattern * 10.0)


def box_albedo(boxes, hits, selected, footprint):
    """Albedo (K x 3) and lit-window emission weight (K) of box pixels ``selected``."""
    ids = hits.surface[selected]
    kind = boxes.kind[ids]
    base = boxes.colour[ids]
    half = boxes.half_sizes[ids]
    horizontal, height = face_coordinates(hits.local[selected], hits.axis[selected], half)
    noise = filtered_noise(horizontal, height, 3.0, footprint, 2.0)
    albedo = base * (0.8 + 0.3 * noise.view(-1, 1))
    window, window_random = window_cells(horizontal, height, boxes.pattern[ids], footprint)
    facade = ((kind == BUILDING) & (hits.axis[selected] != 1)).float()
    glass = facade * window
    albedo = torch.lerp(albedo, grey(0.12 + 0.1 * window_random), glass.view(-1, 1))
    plinth = facade * band(height, 0.15, 0.35, footprint)
    albedo = albedo * (1 - 0.4 * plinth.view(-1, 1))
    car_glass = ((kind == CAR) & (hits.axis[selected] != 1)).float() * band(height, 1.0, 9.0,
                                                                            footprint)
    albedo = torch.lerp(albedo, grey(0.08 + 0.05 * noise), car_glass.view(-1, 1))
    metal = (kind == POLE) | (kind == LAMP)
    albedo = torch.where(metal.view(-1, 1), grey(0.35 + 0.2 * noise), albedo)
    albedo = torch.where((kind == FOLIAGE).view(-1, 1),
                         base * leaf_light(hits.local[selected], boxes.pattern[ids],
                                           footprint).view(-1, 1), albedo)
    lit = glass * (window_random > 0.65).float()
    return albedo.clamp(0, 1), lit


def leaf_light(local, pattern, footprint):
    """
    Leaf texture (K) at box-frame points K x 3: sunlit and shaded clumps of leaves.

    Two octaves of noise over a skewed pair of box coordinates, so that every face (sides, top
    and bottom) gets a two-dimensional pattern; high contrast near, its mean far away.
    """
    u = local[:, 0] + local[:, 2]
    v = local[:, 1] + 0.5 * local[:, 2]
    clumps = (0.6 * filtered_noise(u, v, 5.0, footprint, 3.0 + pattern)
              + 0.4 * filtered_noise(u, v, 1.3, footprint, 4.0 + pattern))
    return 0.3 + 1.4 * clumps


def world_normals(boxes, hits, selected):
    """World-frame normals (K x 3) of the box faces hit by pixels ``selected``."""
    ids = hits.surface[selected]
    # The face normal is the box rotation's column for the face axis, signed.
    columns = yaw_matrices(boxes.yaw)[ids, :, hits.axis[selected]]
    return columns * hits.sign[selected].view(-1, 1)


def sky_radiance(directions, night):
    """Sky colour (N x 3) by elevation of world ray directions 3 x N."""
    elevation = (-directions[1] / directions.norm(dim=0)).clamp(0, 1).view(-1, 1)
    if night:
        return torch.tensor([0.004, 0.005, 0.012]) + 0.01 * (1 - elevation)
    horizon = torch.tensor([0.85, 0.88, 0.92])
    zenith = torch.tensor([0.45, 0.62, 0.88])
    return horizon + (zenith - horizon) * elevation.sqrt()


@dataclass
class Lights:
    """Night light sources: spot lights with position, direction, cone and intensity."""

    positions: torch.Tensor
    """L x 3 world positions."""
    directions: torch.Tensor
    """L x 3 unit axes of the cones."""
    cos_outer: torch.Tensor
    """L cosine of the cone's half angle (no light outside)."""
    intensity: torch.Tensor
    """L x 3 radiant intensity (radiance units x m^2)."""


def night_lights(layout, t_world_camera):
    """Two headlights on the ego car and the street lights within 60 m."""
    rot, origin = t_world_camera[:3, :3], t_world_camera[:3, 3]
    head_offsets = torch.tensor([[-0.75, 0.95, 1.8], [0.75, 0.95, 1.8]])
    head_positions = origin + head_offsets @ rot.t()
    head_axis = torch.nn.functional.normalize(rot @ torch.tensor([0.0, 0.06, 1.0]), dim=0)
    lamps = layout.lamp_positions
    lamps = lamps[(lamps - origin).norm(dim=1) < 60.0]
    n = len(lamps)
    return Lights(
        positions=torch.cat([head_positions, lamps]),
        directions=torch.cat([head_axis.expand(2, 3),
                              torch.tensor([[0.0, 1.0, 0.0]]).expand(n, 3)]),
        cos_outer=torch.cat([torch.full((2,), math.cos(math.radians(28.0))),
                             torch.full((n,), math.cos(math.radians(72.0)))]),
        intensity=torch.cat([torch.tensor([[14.0, 13.0, 11.5]]).expand(2, 3),
                             torch.tensor([[30.0, 22.0, 13.0]]).expand(n, 3)]),
    )


def irradiance(lights, points, normals):
    """
    Light reaching Lambertian surfaces (N x 3) at points N x 3 with normals N x 3.

    Every point-light product is expanded into matrix products so that only N x L arrays are
    formed (L lights): squared distances, cosines to the surface normal and to the cone axis.
    """
    pos = lights.positions
    cross = points @ pos.t()  # N x L
    distance2 = ((points * points).sum(1, keepdim=True) - 2 * cross
                 + (pos * pos).sum(1)).clamp(min=0.25)
    inverse = distance2.rsqrt()
    facing = ((normals @ pos.t()) - (points * normals).sum(1, keepdim=True)) * inverse
    axis_offset = (pos * lights.directions).sum(1)
    along = ((points @ lights.directions.t()) - axis_offset) * inverse
    cone = ((along - lights.cos_outer) / (1 - lights.cos_outer)).clamp(0, 1) ** 0.7
    return (facing.clamp(min=0) * cone * inverse * inverse) @ lights.intensity


def car_light_emission(boxes, hits, selected, moving_start):
    """Head (white) and tail (red) lamps on moving cars' front and back faces: K x 3."""
    ids = hits.surface[selected]
    local = hits.local[selected]
    half = boxes.half_sizes[ids]
    moving = ids >= moving_start
    end_face = hits.axis[selected] == 2
    lamp_zone = ((local[:, 0].abs() > half[:, 0] - 0.35) & (local[:, 1] > -0.05)
                 & (local[:, 1] < 0.2))
    lamp = (moving & end_face & lamp_zone).view(-1, 1)
    front = (hits.sign[selected] > 0).view(-1, 1)
    colour = torch.where(front, torch.tensor([4.0, 3.8, 3.4]), torch.tensor([2.5, 0.15, 0.1]))
    return torch.where(lamp, colour, torch.zeros(1, 3))


def shade(layout, boxes, moving_start, hits, t_world_camera, rays, focal, height, width, night):
    """
    Linear radiance image 3 x H x W of the hits.

    ``rays`` are the camera-frame pixel rays 3 x N and ``focal`` the focal length in pixels,
    which sets each pixel's footprint for filtering the procedural textures.
    """
    rot, origin = t_world_camera[:3, :3], t_world_camera[:3, 3]
    directions = rot @ rays
    n = hits.depth.shape[0]
    albedo = torch.zeros(n, 3)
    normals = torch.zeros(n, 3)
    emission = torch.zeros(n, 3)
    ground = hits.surface == GROUND
    footprint = hits.depth.clamp(max=MAX_DISTANCE) / focal
    # Grazing views of the road stretch the footprint along it.
    albedo[ground] = ground_albedo(layout.road, hits.local[ground, 0], hits.local[ground, 2],
                                   3.0 * footprint[ground])
    normals[ground] = torch.tensor([0.0, -1.0, 0.0])
    on_box = torch.nonzero(hits.surface >= 0).view(-1)
    box_colour, lit_windows = box_albedo(boxes, hits, on_box, footprint[on_box])
    albedo[on_box] = box_colour
    normals[on_box] = world_normals(boxes, hits, on_box)
    sky = hits.surface == SKY
    if night:
        points = origin + hits.depth.clamp(max=MAX_DISTANCE).view(-1, 1) * directions.t()
        light = 0.006 + irradiance(night_lights(layout, t_world_camera), points, normals)
        lamp_faces = (boxes.kind[hits.surface[on_box]] == LAMP) & (hits.axis[on_box] == 1)
        emission[on_box] = (lamp_faces.float().view(-1, 1) * torch.tensor([6.0, 5.0, 3.5])
                            + lit_windows.view(-1, 1) * torch.tensor([0.5, 0.4, 0.22])
                            + car_light_emission(boxes, hits, on_box, moving_start))
    else:
        light = 0.45 + 0.55 * (normals @ SUN).clamp(min=0).view(-1, 1)
    radiance = albedo * light + emission
    radiance[sky] = sky_radiance(directions[:, sky], night)
    return radiance.t().reshape(3, height, width)
