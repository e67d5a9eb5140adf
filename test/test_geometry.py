"""Analytic tests of the camera geometry."""

import math

from defeat_ros.geometry import (axis_angle_to_matrix, backproject, correspondences,
                                 intrinsics_array, invert_pose, matrix_to_axis_angle,
                                 motion_to_transform, normalise_intrinsics, pixel_grid,
                                 pose_to_matrix, project, resize, sample, scale_intrinsics, skew,
                                 transform_points, warp)
from defeat_ros.losses import PhotometricError
import numpy as np
import pytest
import torch


def random_axis_angle(n, max_angle=3.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    axis = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen), dim=1)
    angle = max_angle * torch.rand(n, 1, generator=gen)
    return (axis * angle).double()


def test_rodrigues_equals_matrix_exponential():
    v = random_axis_angle(64)
    assert torch.allclose(axis_angle_to_matrix(v), torch.linalg.matrix_exp(skew(v)), atol=1e-10)


def test_rotations_are_orthonormal_with_unit_determinant():
    rot = axis_angle_to_matrix(random_axis_angle(64))
    eye = torch.eye(3, dtype=rot.dtype).expand_as(rot)
    assert torch.allclose(rot @ rot.transpose(1, 2), eye, atol=1e-10)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(64, dtype=rot.dtype), atol=1e-10)


@pytest.mark.parametrize('max_angle', [3.0, 1e-3, 1e-6])
def test_axis_angle_round_trip(max_angle):
    v = random_axis_angle(64, max_angle)
    assert torch.allclose(matrix_to_axis_angle(axis_angle_to_matrix(v)), v, atol=1e-7, rtol=1e-5)


def test_zero_rotation_is_identity_with_finite_gradient():
    v = torch.zeros(1, 3, requires_grad=True)
    rot = axis_angle_to_matrix(v)
    assert torch.equal(rot.detach(), torch.eye(3)[None])
    rot.sum().backward()
    assert torch.isfinite(v.grad).all()


@pytest.mark.parametrize('dtype,tolerance', [(torch.float16, 2e-3), (torch.bfloat16, 1.6e-2)])
@pytest.mark.parametrize('angle', [0.0, 1e-5, 2.2e-3, 0.05, 1.0])
def test_small_rotations_stay_finite_and_accurate_in_half_precision(dtype, tolerance, angle):
    """
    A robot standing still gives angles of about 2e-3 rad, whose square is subnormal in fp16.

    An fp16 engine may flush it to zero; the formula must then give the identity, not 0 / 0.
    """
    axis = torch.nn.functional.normalize(torch.tensor([[0.3, -0.5, 0.8]], dtype=torch.float64))
    v = angle * axis
    exact = axis_angle_to_matrix(v)
    rot = axis_angle_to_matrix(v.to(dtype))
    assert rot.dtype == dtype and torch.isfinite(rot).all()
    assert (rot.double() - exact).abs().max() < tolerance
    flushed = torch.full((1, 3), 1e-5, dtype=dtype) * 1e-3  # underflows to zero in fp16
    assert torch.isfinite(axis_angle_to_matrix(flushed)).all()


def test_motions_compose_in_fp32_whatever_their_precision():
    motion = torch.tensor([[0.01, -0.002, 0.003, 0.5, -0.1, 2.0]])
    expected = pose_to_matrix(motion[:, :3], motion[:, 3:])
    assert torch.equal(motion_to_transform(motion), expected)
    assert torch.equal(motion_to_transform(motion, inverted=True), invert_pose(expected))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        composed = motion_to_transform(motion.half())
    assert composed.dtype == torch.float32
    torch.testing.assert_close(composed, expected, atol=2e-3, rtol=0)


def test_rotations_about_one_axis_compose_by_adding_angles():
    axis = torch.nn.functional.normalize(torch.tensor([[0.3, -0.5, 0.8]], dtype=torch.float64))
    a, b = 0.4, 1.1
    composed = axis_angle_to_matrix(a * axis) @ axis_angle_to_matrix(b * axis)
    assert torch.allclose(composed, axis_angle_to_matrix((a + b) * axis), atol=1e-12)


def test_pose_composition_and_inverse():
    t_a_b = pose_to_matrix(random_axis_angle(8, seed=1), torch.randn(8, 3, dtype=torch.float64))
    t_b_c = pose_to_matrix(random_axis_angle(8, seed=2), torch.randn(8, 3, dtype=torch.float64))
    points_c = torch.randn(8, 3, 4, 5, dtype=torch.float64)
    step_by_step = transform_points(t_a_b, transform_points(t_b_c, points_c))
    assert torch.allclose(transform_points(t_a_b @ t_b_c, points_c), step_by_step, atol=1e-12)
    eye = torch.eye(4, dtype=torch.float64).expand(8, 4, 4)
    assert torch.allclose(invert_pose(t_a_b) @ t_a_b, eye, atol=1e-12)
    assert torch.allclose(invert_pose(t_a_b), torch.linalg.inv(t_a_b), atol=1e-12)


def test_a_point_ahead_projects_through_the_principal_point():
    k = normalise_intrinsics(100.0, 100.0, 31.5, 23.5, 64, 48)
    point = torch.tensor([0.0, 0.0, 5.0]).view(1, 3, 1, 1)
    pixels, depth = project(point, scale_intrinsics(k, 48, 64)[None])
    # OpenCV principal point (31.5, 23.5) is the corner-convention point (32, 24): image centre.
    assert torch.allclose(pixels.flatten(), torch.tensor([32.0, 24.0]))
    assert depth.item() == 5.0


def test_backproject_then_project_returns_the_pixel_grid():
    k = scale_intrinsics(normalise_intrinsics(80.0, 90.0, 40.0, 20.0, 96, 64), 64, 96)[None]
    depth = 1.0 + 9.0 * torch.rand(1, 1, 64, 96)
    pixels, z = project(backproject(depth, k), k)
    assert torch.allclose(pixels.view(2, -1), pixel_grid(64, 96)[:2], atol=1e-4)
    assert torch.allclose(z, depth, atol=1e-5)


def test_normalised_intrinsics_are_exact_at_every_pyramid_level():
    k_norm = normalise_intrinsics(200.0, 210.0, 150.3, 60.7, 320, 128)
    point = torch.tensor([0.7, -0.4, 6.0]).view(1, 3, 1, 1)
    full, _ = project(point, scale_intrinsics(k_norm, 128, 320)[None])
    for level in range(1, 4):
        size = (128 >> level, 320 >> level)
        scaled, _ = project(point, scale_intrinsics(k_norm, *size)[None])
        assert torch.allclose(scaled * 2 ** level, full, atol=1e-4)


def test_sampling_at_pixel_centres_returns_the_pixels():
    image = torch.rand(2, 3, 16, 24)
    grid = pixel_grid(16, 24)[:2].view(1, 2, 16, 24).expand(2, 2, 16, 24)
    assert torch.allclose(sample(image, grid), image, atol=1e-6)


def test_resize_down_by_two_is_a_2x2_average():
    image = torch.rand(1, 3, 16, 24)
    expected = torch.nn.functional.avg_pool2d(image, 2)
    assert torch.allclose(resize(image, 8, 12), expected, atol=1e-6)


def test_identity_pose_maps_every_pixel_to_itself():
    k = scale_intrinsics(normalise_intrinsics(50.0, 50.0, 16.0, 12.0, 32, 24), 24, 32)[None]
    pixels, valid = correspondences(torch.full((1, 1, 24, 32), 3.0), torch.eye(4)[None], k)
    assert torch.allclose(pixels.view(2, -1), pixel_grid(24, 32)[:2], atol=1e-4)
    assert valid.all()


def warp_error(views, depth, t_source_target):
    """Mean and median photometric error of the warped source over in-view pixels."""
    warped, valid = warp(views.source, depth, t_source_target, views.k_pix)
    error = PhotometricError()(warped, views.target)
    return (error * valid).sum() / valid.sum(), error[valid > 0].median(), valid.mean()


def test_warping_with_true_depth_and_pose_reproduces_the_target(two_views):
    v = two_views
    mean, median, in_view = warp_error(v, v.target_depth, v.t_source_target)
    assert in_view > 0.7
    # Residuals come only from bilinear resampling of a finite-resolution render.
    assert median < 0.002
    assert mean < 0.03
    assert PhotometricError()(v.source, v.target).mean() > 5 * mean
    for wrong in (pose_to_matrix(torch.tensor([[0.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, 0.3]])),
                  pose_to_matrix(torch.tensor([[0.0, math.radians(2.0), 0.0]]),
                                 torch.zeros(1, 3))):
        wrong_mean, wrong_median, _ = warp_error(v, v.target_depth, wrong @ v.t_source_target)
        assert wrong_mean > 4 * mean
        assert wrong_median > 10 * median


def test_warping_with_wrong_depth_scale_fails(two_views):
    v = two_views
    right, _, _ = warp_error(v, v.target_depth, v.t_source_target)
    wrong, _, _ = warp_error(v, 0.5 * v.target_depth, v.t_source_target)
    assert wrong > 3 * right


def test_points_behind_the_source_camera_are_invalid():
    k = scale_intrinsics(normalise_intrinsics(50.0, 50.0, 16.0, 12.0, 32, 24), 24, 32)[None]
    backwards = pose_to_matrix(torch.zeros(1, 3), torch.tensor([[0.0, 0.0, -5.0]]))
    _, valid = correspondences(torch.full((1, 1, 24, 32), 3.0), backwards, k)
    assert not valid.any()


def test_numpy_arrays_take_the_same_maths_as_tensors():
    """The camera step runs the geometry on numpy arrays: same results, numpy out."""
    motion = torch.cat([random_axis_angle(16, seed=1), torch.randn(16, 3).double()], dim=1)
    for inverted in (False, True):
        as_array = motion_to_transform(motion.numpy(), inverted)
        assert isinstance(as_array, np.ndarray) and as_array.dtype == np.float32
        np.testing.assert_allclose(as_array, motion_to_transform(motion, inverted), atol=1e-6)
    rotations = axis_angle_to_matrix(random_axis_angle(16, seed=2))
    np.testing.assert_allclose(matrix_to_axis_angle(rotations.numpy()),
                               matrix_to_axis_angle(rotations), atol=1e-12)
    k_norm = intrinsics_array(50.0, 52.0, 15.5, 11.5, 32, 24)
    np.testing.assert_array_equal(k_norm, normalise_intrinsics(50.0, 52.0, 15.5, 11.5, 32, 24))
    k_pix = scale_intrinsics(k_norm, 24, 32)
    np.testing.assert_allclose(k_pix, scale_intrinsics(torch.from_numpy(k_norm), 24, 32))
    depth = np.random.default_rng(0).uniform(1.0, 9.0, (2, 1, 24, 32)).astype(np.float32)
    points = backproject(depth, np.stack([k_pix, k_pix]))
    assert isinstance(points, np.ndarray) and points.dtype == np.float32
    np.testing.assert_allclose(points, backproject(torch.from_numpy(depth),
                                                   torch.from_numpy(k_pix).expand(2, 3, 3)),
                               rtol=1e-5, atol=1e-6)
