"""U-Net's pixel-wise weighted cross-entropy (seed 004): the weight map and the weighted loss."""

import math

import cv2
from defeat_ros.losses import DeFeatLoss, LossConfig
from defeat_ros.losses.boundary_weights import class_balance, segment_distances, unet_weights
from defeat_ros.losses.semantic import segmentation_loss
from defeat_ros.nets import TrainOutputs
from defeat_ros.semantics import IGNORE, NUM_CLASSES, SKY
import numpy as np
import pytest
import torch
from variant_testing import frames

ROAD = 0


def pole_between_roads():
    """
    Return 3 x 7 labels: road, a 1-pixel sky column, road; the last row unknown.

    Segments: left road (columns 0-2), the sky column (3), right road (4-6). 12 road and 2
    sky pixels: median count 7, w_c 7/12 on road and 7/2 on sky.
    """
    labels = torch.full((1, 3, 7), ROAD)
    labels[:, :, 3] = SKY
    labels[:, 2] = IGNORE
    return labels


def test_unet_weights_of_two_segments_one_pixel_apart():
    w0, sigma = 10.0, 5.0
    weights = unet_weights(pole_between_roads(), w0, sigma)
    assert weights.shape == (1, 3, 7) and weights.dtype == torch.float32

    def border(d1, d2):
        return w0 * math.exp(-(d1 + d2) ** 2 / (2 * sigma ** 2))

    # Other segments' distances: column 3 (sky) 1 and 1; column 2 the sky 1, the right road 2;
    # column 1: 2 and 3; column 0: 3 and 4 (and mirrored on the right).
    road = [7 / 12 + border(3, 4), 7 / 12 + border(2, 3), 7 / 12 + border(1, 2)]
    expected = road + [7 / 2 + border(1, 1)] + road[::-1]
    for row in range(2):
        assert weights[0, row].tolist() == pytest.approx(expected, rel=1e-6)
    assert weights[0, 2].tolist() == [0.0] * 7  # unknown pixels weigh nothing


def test_fewer_than_two_other_segments_leave_the_class_balance_alone():
    halves = torch.full((2, 4, 6), ROAD)
    halves[0, :, 4:] = SKY  # image 0: 16 road, 8 sky pixels, each with one other segment
    weights = unet_weights(halves)
    expected = torch.full((4, 6), 12 / 16)
    expected[:, 4:] = 12 / 8
    assert torch.allclose(weights[0], expected)
    assert torch.equal(weights[1], torch.ones(4, 6))  # image 1: one segment, one class
    assert torch.equal(unet_weights(torch.full((1, 2, 3), IGNORE)), torch.zeros(1, 2, 3))


def test_class_balance_is_median_frequency():
    labels = np.array([[0, 0, 0, 0, 0, 0, 1, 1, 2, IGNORE]], np.uint8)
    # Counts 6, 2, 1: median 2.
    assert class_balance(labels)[0].tolist() == pytest.approx(
        [1 / 3] * 6 + [1.0] * 2 + [2.0, 0.0], rel=1e-6)


def brute_force_distances(labels, reach):
    """Sorted distances from each pixel to every other segment's nearest pixel, capped."""
    segments = []
    for value in np.unique(labels[labels != IGNORE]):
        count, components = cv2.connectedComponents((labels == value).astype(np.uint8),
                                                    connectivity=8)
        segments += [components == index for index in range(1, count)]
    rows, columns = np.indices(labels.shape)
    distances = []
    for segment in segments:
        ys, xs = np.nonzero(segment)
        distance = np.hypot(rows[..., None] - ys, columns[..., None] - xs).min(-1)
        distance[segment | (distance > reach)] = np.inf
        distances.append(distance)
    distances = np.sort(np.stack(distances), axis=0)
    return distances[0], distances[1]


def test_segment_distances_match_brute_force_within_reach():
    rng = np.random.default_rng(0)
    blocks = rng.choice([0, 1, 2, IGNORE], size=(6, 8)).astype(np.uint8)
    labels = np.kron(blocks, np.ones((3, 3), np.uint8))[:, :-1]  # 18 x 23 blocky regions
    labels[4, 5:9] = 1  # and a thin line
    for reach in (3.0, 7.5, 100.0):  # windows smaller than the image, and the whole image
        d1, d2 = segment_distances(labels, reach)
        e1, e2 = brute_force_distances(labels, reach)
        np.testing.assert_allclose(d1, e1, rtol=1e-5)
        np.testing.assert_allclose(d2, e2, rtol=1e-5)


def test_segmentation_loss_is_the_weighted_mean_over_labelled_pixels():
    torch.manual_seed(0)
    labels = torch.tensor([[[0, 1, IGNORE, 2]]])
    logits = torch.randn(1, 3, 1, 4, requires_grad=True)
    weights = torch.tensor([[[1.0, 3.0, 5.0, 0.5]]])
    errors = -torch.log_softmax(logits, 1)[0, [0, 1, 2], 0, [0, 1, 3]]
    expected = (1.0 * errors[0] + 3.0 * errors[1] + 0.5 * errors[2]) / 4.5
    loss = segmentation_loss(logits, labels, weights)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert segmentation_loss(logits, labels).item() == pytest.approx(errors.mean().item())
    unlabelled = segmentation_loss(logits, torch.full_like(labels, IGNORE), weights)
    assert unlabelled.item() == 0
    unlabelled.backward()  # still in the graph (DistributedDataParallel), zero gradient
    assert logits.grad is not None and not logits.grad.any()


def test_defeat_loss_weights_the_cross_entropy_as_configured():
    labels = pole_between_roads()
    target, sources, k_norm = frames(1, 3, 7)
    torch.manual_seed(0)
    logits = torch.randn(1, NUM_CLASSES, 3, 7)
    outputs = TrainOutputs(disparities=[torch.full((1, 1, 3, 7), 0.5)], features=None,
                           source_features=[], poses=[torch.eye(4)[None]],
                           segmentation=logits)
    terms = {}
    for weighting in ('uniform', 'unet'):
        loss = DeFeatLoss(LossConfig(scales=1, feature_warp_weight=0.0, contrastive_weight=0.0,
                                     velocity_weight=0.0, segmentation_weighting=weighting))
        _, terms[weighting] = loss(outputs, target, sources[:1], k_norm, lambda d: 1 / (d + 1),
                                   labels=labels.to(torch.uint8))
    assert LossConfig().segmentation_weighting == 'uniform'
    assert terms['uniform']['segmentation'].item() == pytest.approx(
        segmentation_loss(logits, labels).item(), rel=1e-6)
    assert terms['unet']['segmentation'].item() == pytest.approx(
        segmentation_loss(logits, labels, unet_weights(labels)).item(), rel=1e-6)
    assert terms['unet']['segmentation'].item() != pytest.approx(
        terms['uniform']['segmentation'].item(), rel=1e-3)


def test_loss_config_rejects_unknown_weighting_and_bad_boundary_values():
    with pytest.raises(ValueError, match='segmentation_weighting'):
        LossConfig(segmentation_weighting='median')
    with pytest.raises(ValueError, match='boundary_weight'):
        LossConfig(boundary_weight=-1.0)
    with pytest.raises(ValueError, match='boundary_sigma'):
        LossConfig(boundary_sigma=0.0)
