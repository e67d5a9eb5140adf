"""The synthetic street: exact ground truth, determinism, night statistics and moving masks."""

import math

from defeat_ros.data.street_layout import (BUILDING, CAR, FOLIAGE, LAMP, POLE, ROAD_HALF_WIDTH,
                                           TRUNK)
from defeat_ros.data.street_render import LABEL_ID
from defeat_ros.data.street_world import render_sequence, StreetWorld, WorldConfig
from defeat_ros.geometry import invert_pose, matrix_to_axis_angle, scale_intrinsics, warp
from defeat_ros.losses import PhotometricError
import pytest
import torch

SMALL = {'width': 320, 'height': 96, 'frames': 6, 'seed': 3}
CAMERA_HEIGHT = WorldConfig().camera_height


@pytest.fixture(scope='module')
def clean_day():
    return render_sequence(WorldConfig(**SMALL, sensor_noise=False))


def test_warping_the_next_frame_with_true_depth_and_pose_reproduces_static_pixels(clean_day):
    seq = clean_day
    k_pix = scale_intrinsics(seq.k_norm, seq.height, seq.width)[None]
    error = PhotometricError()
    for t in range(len(seq) - 1):
        depth = seq.depths[t:t + 1]
        t_source_target = invert_pose(seq.poses[t + 1:t + 2]) @ seq.poses[t:t + 1]
        warped, valid = warp(seq.images[t + 1:t + 2], depth.clamp(max=1e4), t_source_target,
                             k_pix)
        static = valid * torch.isfinite(depth) * ~seq.moving[t:t + 1]
        residual = error(warped, seq.images[t:t + 1])
        static_error = (residual * static).sum() / static.sum()
        assert static.mean() > 0.5
        # Residuals come from resampling at silhouettes; textures are filtered per pixel.
        assert static_error < 0.035
        assert residual[static > 0].median() < 0.005
        assert error(seq.images[t + 1:t + 2], seq.images[t:t + 1]).mean() > 2 * static_error


def test_rendering_is_deterministic_per_seed(clean_day):
    again = render_sequence(WorldConfig(**SMALL, sensor_noise=False), workers=1)
    assert torch.equal(again.images, clean_day.images)
    assert torch.equal(again.depths, clean_day.depths)
    noisy = [render_sequence(WorldConfig(**SMALL, night=True)) for _ in range(2)]
    assert torch.equal(noisy[0].images, noisy[1].images)
    other = render_sequence(WorldConfig(**{**SMALL, 'seed': 4}, sensor_noise=False))
    assert (other.images - clean_day.images).abs().mean() > 0.02


def test_night_is_the_same_drive_darker_and_noisier(clean_day):
    day = render_sequence(WorldConfig(**SMALL))
    night = render_sequence(WorldConfig(**SMALL, night=True))
    clean_night = render_sequence(WorldConfig(**SMALL, night=True, sensor_noise=False))
    assert torch.equal(night.depths, day.depths) and torch.equal(night.poses, day.poses)
    # Stated statistics: night mean brightness under 45% of the day's, and noise relative to
    # the signal at least 3 times the day's.
    assert night.images.mean() < 0.45 * day.images.mean()
    day_noise = (day.images - clean_day.images).std() / clean_day.images.mean()
    night_noise = (night.images - clean_night.images).std() / clean_night.images.mean()
    assert night_noise > 3 * day_noise
    # Lights exist at night: some pixels (lamps, lit windows, tail lights) are near saturation.
    assert (night.images.max(dim=1).values > 0.9).float().mean() > 0.001


def test_moving_masks_cover_exactly_the_moving_cars():
    with_cars = render_sequence(WorldConfig(**SMALL, sensor_noise=False))
    without = render_sequence(WorldConfig(**SMALL, sensor_noise=False, moving_cars=0))
    assert with_cars.moving.any()
    nearer = with_cars.depths < without.depths - 1e-4
    assert torch.equal(nearer, with_cars.moving)


def test_trajectory_turns_changes_speed_and_stays_level():
    config = WorldConfig(width=64, height=32, frames=150, seed=1)
    world = StreetWorld(config)
    poses = torch.stack([world.trajectory.pose(i / config.fps) for i in range(config.frames)])
    forward = poses[:, :3, 2]
    yaw = torch.atan2(forward[:, 0], forward[:, 2])
    assert math.degrees(yaw.max() - yaw.min()) > 15
    speed = (poses[1:, :3, 3] - poses[:-1, :3, 3]).norm(dim=1) * config.fps
    assert speed.min() >= config.min_speed * 0.9 and speed.max() <= config.max_speed * 1.1
    assert speed.max() > 1.5 * speed.min()
    relative = invert_pose(poses[:-1]) @ poses[1:]
    assert matrix_to_axis_angle(relative[:, :3, :3]).norm(dim=1).max() < math.radians(5)
    pitch = torch.asin(-poses[:, 1, 2].clamp(-1, 1))
    assert pitch.abs().max() < math.radians(2) and pitch.abs().max() > 0


def test_depth_is_finite_on_surfaces_and_inf_in_the_sky(clean_day):
    depth = clean_day.depths
    sky = ~torch.isfinite(depth)
    assert sky[..., :10, :].float().mean() > 0.01  # some sky at the top
    assert not sky[..., -10:, :].any()  # the road fills the bottom rows
    assert depth[~sky].min() > 0.05


def test_world_config_rejects_bad_values():
    with pytest.raises(ValueError, match='8x8'):
        WorldConfig(width=4)
    with pytest.raises(ValueError, match='min_speed'):
        WorldConfig(min_speed=10.0, max_speed=5.0)
    with pytest.raises(ValueError, match='sidewalk_width >= 1'):
        WorldConfig(sidewalk_width=0.5)
    with pytest.raises(ValueError, match='building_gap'):
        WorldConfig(building_gap=1.0)
    with pytest.raises(ValueError, match='grey_facades'):
        WorldConfig(grey_facades=1.5)
    with pytest.raises(ValueError, match='vegetation'):
        WorldConfig(vegetation=-0.1)
    with pytest.raises(ValueError, match='gamma'):
        WorldConfig(gamma=0.0)


def test_street_shape_options_move_and_thin_out_the_buildings():
    def facades(**shape):
        layout = StreetWorld(WorldConfig(**SMALL, **shape)).layout
        buildings = layout.static.kind == BUILDING
        centres = layout.static.centres[buildings]
        lateral, _ = layout.road.lateral_and_along(centres[:, 0], centres[:, 2])
        return int(buildings.sum()), lateral.abs() - layout.static.half_sizes[buildings, 0]

    count, inner = facades()  # facade distances from the centre line, approximately
    assert inner.min() > ROAD_HALF_WIDTH + 2.5 - 0.2  # default: 2.5 m pavement
    _, narrow = facades(sidewalk_width=1.0, max_setback=0.0)
    assert narrow.median() < inner.median() - 1.5
    sparse_count, _ = facades(building_gap=0.6)
    assert sparse_count < 0.6 * count


def test_grey_facades_repaint_buildings_without_moving_the_street():
    def buildings(**paint):
        layout = StreetWorld(WorldConfig(**SMALL, **paint)).layout
        return layout.static.colour[layout.static.kind == BUILDING], layout.static.centres

    colourful, centres = buildings()
    grey, grey_centres = buildings(grey_facades=1.0)
    assert torch.equal(centres, grey_centres)

    def spread(colours):
        return colours.max(1).values - colours.min(1).values

    assert (spread(grey) < 0.07 * grey.mean(1)).all()
    assert spread(colourful).median() > 0.2
    assert grey.mean(1).max() > 0.85  # white facades among them


def sharpness(images):
    """Mean absolute horizontal gradient: lower when blurred."""
    return (images[..., 1:] - images[..., :-1]).abs().mean()


def test_vegetation_plants_trees_on_building_plots_without_moving_the_street():
    def layout(vegetation):
        return StreetWorld(WorldConfig(**SMALL, vegetation=vegetation)).layout

    def street_furniture(lay):
        kind = lay.static.kind
        return lay.static.centres[(kind == CAR) | (kind == POLE) | (kind == LAMP)]

    bare, half, green = layout(0.0), layout(0.5), layout(1.0)
    assert not ((bare.static.kind == FOLIAGE) | (bare.static.kind == TRUNK)).any()
    assert not (green.static.kind == BUILDING).any()
    buildings = [int((lay.static.kind == BUILDING).sum()) for lay in (bare, half)]
    assert 0.2 * buildings[0] < buildings[1] < 0.8 * buildings[0]
    assert torch.equal(street_furniture(bare), street_furniture(green))
    trunks = green.static.kind == TRUNK
    assert trunks.sum() > 10
    bottom = green.static.centres[trunks, 1] + green.static.half_sizes[trunks, 1]
    assert torch.allclose(bottom, torch.full_like(bottom, CAMERA_HEIGHT))  # on the ground
    lateral, _ = green.road.lateral_and_along(green.static.centres[trunks, 0],
                                              green.static.centres[trunks, 2])
    assert lateral.abs().min() > ROAD_HALF_WIDTH + 0.9  # behind the kerb and the street lights


def test_vegetation_has_exact_depth_a_class_and_a_texture_that_moves_with_it():
    seq = render_sequence(WorldConfig(**SMALL, vegetation=1.0, sensor_noise=False))
    leaves = seq.labels == LABEL_ID['vegetation']
    assert leaves.float().mean() > 0.1
    assert torch.isfinite(seq.depths[leaves]).all()
    # Leafy, not flat: neighbouring leaf pixels differ by several per cent of their brightness
    # (a flat-coloured face would differ by nothing but at its edges).
    brightness = seq.images.mean(1, keepdim=True)
    pairs = leaves[..., 1:] & leaves[..., :-1]
    step = (brightness[..., 1:] - brightness[..., :-1]).abs()[pairs]
    assert step.median() > 0.03 * brightness[leaves].mean()
    # The leaves are painted on the boxes: the true depth and pose carry them to the next frame.
    k_pix = scale_intrinsics(seq.k_norm, seq.height, seq.width)[None]
    t_next_this = invert_pose(seq.poses[2:3]) @ seq.poses[1:2]
    warped, valid = warp(seq.images[2:3], seq.depths[1:2].clamp(max=1e4), t_next_this, k_pix)
    residual = PhotometricError()(warped, seq.images[1:2])
    assert residual[(valid > 0) & leaves[1:2] & ~seq.moving[1:2]].median() < 0.01


def test_motion_blur_and_glare_are_optional_and_do_what_they_say():
    config = {**SMALL, 'frames': 3, 'sensor_noise': False}
    sharp = render_sequence(WorldConfig(**config))
    blurred = render_sequence(WorldConfig(**config, motion_blur=4, exposure=0.05))
    assert sharpness(blurred.images) < 0.95 * sharpness(sharp.images)
    assert torch.equal(blurred.depths, sharp.depths)  # ground truth is at the frame time
    glare = render_sequence(WorldConfig(**config, night=True))
    no_glare = render_sequence(WorldConfig(**config, night=True, glare=False))
    # Bloom only adds light, and only around the bright sources.
    assert (glare.images >= no_glare.images - 1 / 255).all()
    assert glare.images.mean() > no_glare.images.mean()


def test_the_tone_curve_lifts_the_shadows_and_keeps_the_order_of_brightness(clean_day):
    config = {**SMALL, 'sensor_noise': False}
    srgb = render_sequence(WorldConfig(**config, gamma=2.2))
    assert torch.equal(srgb.depths, clean_day.depths)
    # Each pixel is the linear one to the power 1 / 2.2, within the 8-bit rounding of both.
    expected = clean_day.images ** (1 / 2.2)
    rounding = (1 / 255) * (1 + clean_day.images.clamp(min=1 / 255) ** (1 / 2.2 - 1) / 2.2)
    assert ((srgb.images - expected).abs() <= rounding).all()
    # Dark pixels gain most: the darkest quarter at least doubles, the brightest tenth gains
    # under a third.
    linear = clean_day.images
    dark = linear <= linear.quantile(0.25)
    bright = linear >= linear.quantile(0.9)
    assert srgb.images[dark].mean() > 2 * linear[dark].mean()
    assert srgb.images[bright].mean() < 1.3 * linear[bright].mean()
