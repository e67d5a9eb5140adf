"""The flat-ground prior on hand-computed depths: a road 1.65 m below a level camera."""

from defeat_ros.evaluation.flat_ground import flat_ground_depth
from defeat_ros.geometry import normalise_intrinsics
import pytest
import torch

# OpenCV pixel intrinsics (centres at integers) of a 100 x 40 image: fy 100, cy 20.
K_NORM = normalise_intrinsics(80.0, 100.0, 50.0, 20.0, 100, 40)


def test_rows_below_the_horizon_see_the_road_at_height_times_fy_over_v_minus_cy():
    depth = flat_ground_depth(K_NORM, 40, 100)
    assert depth.shape == (40, 100) and depth.dtype == torch.float32
    assert depth[30, 7].item() == pytest.approx(1.65 * 100 / (30 - 20))  # 16.5 m
    assert depth[25, 99].item() == pytest.approx(1.65 * 100 / 5)  # 33 m
    assert depth[39, 0].item() == pytest.approx(1.65 * 100 / 19)  # 8.684 m
    assert torch.equal(depth, depth[:, :1].expand(40, 100))  # a level camera: rows only


def test_the_horizon_above_it_and_road_beyond_the_far_depth_take_the_far_depth():
    depth = flat_ground_depth(K_NORM, 40, 100)
    assert depth[24, 50].item() == 40.0  # 1.65 * 100 / 4 = 41.25 m: clamped
    assert depth[20, 50].item() == 40.0  # the horizon row
    assert (depth[:20] == 40.0).all()  # the sky


def test_height_and_far_depth_are_parameters():
    depth = flat_ground_depth(K_NORM, 40, 100, camera_height=2.0, max_depth=80.0)
    assert depth[30, 0].item() == pytest.approx(2.0 * 100 / 10)  # 20 m
    assert depth[24, 0].item() == pytest.approx(2.0 * 100 / 4)  # 50 m: nearer than 80
    assert depth[20, 0].item() == 80.0


def test_normalised_intrinsics_give_the_same_road_at_another_resolution():
    # the same camera at half the size: fy 50, OpenCV cy (20 + 0.5) / 2 - 0.5 = 9.75, so
    # row 14 sees the road at 1.65 * 50 / (14 - 9.75) = 19.41 m.
    depth = flat_ground_depth(K_NORM, 20, 50)
    assert depth[14, 0].item() == pytest.approx(1.65 * 50 / (14 - 9.75))
