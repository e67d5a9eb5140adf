"""Segmentation-guided depth (seed 004): the head, cross-entropy and the semantic loss terms."""

import json
import math

from defeat_ros.losses import DeFeatLoss, EdgeAwareSmoothness, LossConfig, PhotometricError
from defeat_ros.losses.semantic import class_map, segmentation_loss
from defeat_ros.nets import DeFeatNet, load_model, ModelConfig, save_model, TrainOutputs
from defeat_ros.semantics import IGNORE, MOVABLE, NUM_CLASSES, SKY
from defeat_ros.trainer.flip import unflip_outputs
from defeat_ros.trainer.step import measure_loss
import pytest
import torch
from variant_testing import frames, SMALL, variant_step

H, W = 16, 24
CAR = MOVABLE[2]


def small_net(segmentation=True, **changes):
    torch.manual_seed(0)
    return DeFeatNet(ModelConfig(**SMALL, segmentation=segmentation, **changes))


def static_outputs(disparities=(0.5, 0.5, 0.5, 0.5), segmentation=None):
    """Return the outputs of a still camera: identity poses, constant disparities, no features."""
    return TrainOutputs(
        disparities=[torch.full((1, 1, H >> s, W >> s), value)
                     for s, value in enumerate(disparities)],
        features=None, source_features=[], poses=[torch.eye(4)[None]],
        segmentation=segmentation)


LOSS = {'feature_warp_weight': 0.0, 'contrastive_weight': 0.0, 'velocity_weight': 0.0,
        'automask': False, 'smoothness_weight': 0.0}
"""A loss of the photometric term alone, exactly computable on a still camera."""


def test_cross_entropy_ignores_unlabelled_pixels():
    logits = torch.tensor([[[[2.0, 0.0, 1.0]], [[0.0, 1.0, 3.0]]]], requires_grad=True)
    labels = torch.tensor([[[0, IGNORE, 1]]])
    # Pixel 0: class 0 of logits (2, 0); pixel 2: class 1 of logits (1, 3).
    expected = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-2))) / 2
    assert segmentation_loss(logits, labels).item() == pytest.approx(expected, rel=1e-6)
    unlabelled = segmentation_loss(logits, torch.full_like(labels, IGNORE))
    assert unlabelled.item() == 0
    unlabelled.backward()  # still in the graph (DistributedDataParallel), zero gradient
    assert logits.grad is not None and not logits.grad.any()


def test_class_map_takes_labels_where_known_else_the_predicted_class():
    labels = torch.tensor([[[SKY, IGNORE, IGNORE]]])
    logits = torch.zeros(1, NUM_CLASSES, 1, 3)
    logits[0, CAR, 0, :] = 5.0
    assert class_map(labels, logits).tolist() == [[[[SKY, CAR, CAR]]]]
    assert class_map(labels).tolist() == [[[[SKY, IGNORE, IGNORE]]]]


def test_boundary_aware_smoothness_is_zero_across_a_class_boundary_step():
    smoothness = EdgeAwareSmoothness()
    disparity = torch.full((1, 1, 4, 6), 0.2)
    disparity[..., 3:] = 0.8  # a depth step between columns 2 and 3
    image = torch.zeros(1, 3, 4, 6)  # no image edge to excuse it
    classes = torch.zeros(1, 1, 4, 6, dtype=torch.long)
    classes[..., 3:] = SKY
    assert smoothness(disparity, image, classes).item() == 0
    plain = smoothness(disparity, image)
    # Normalised disparity: mean 0.5, step 1.2 over 4 of the 20 x-pairs.
    assert plain.item() == pytest.approx(1.2 * 4 / 20, rel=1e-6)
    assert smoothness(disparity, image, torch.zeros_like(classes)).item() == plain.item()
    inside = classes.clone()
    inside[..., 2] = SKY  # boundary one column off the step: the step costs again
    assert smoothness(disparity, image, inside).item() == pytest.approx(plain.item())


def test_sky_term_is_the_mean_sky_disparity_over_scales():
    target, sources, k_norm = frames(1, H, W)
    labels = torch.full((1, H, W), IGNORE, dtype=torch.uint8)
    labels[:, :4] = SKY
    outputs = static_outputs((0.2, 0.4, 0.6, 0.8))
    totals = {}
    for weight in (0.0, 0.5):
        loss = DeFeatLoss(LossConfig(**LOSS, sky_weight=weight))
        totals[weight], terms = loss(outputs, target, sources[:1], k_norm, lambda d: 1 / (d + 1),
                                     labels=labels)
    assert terms['sky'].item() == pytest.approx(0.5, rel=1e-6)
    assert (totals[0.5] - totals[0.0]).item() == pytest.approx(0.25, rel=1e-5)
    _, terms = loss(outputs, target, sources[:1], k_norm, lambda d: 1 / (d + 1))
    assert terms['sky'].item() == 0  # no labels, no head: no sky pixels


def test_sky_term_pushes_sky_disparity_down_and_nothing_else():
    target, sources, k_norm = frames(1, H, W)
    labels = torch.full((1, H, W), IGNORE, dtype=torch.uint8)
    labels[:, :4] = SKY
    disparity = torch.full((1, 1, H, W), 0.5, requires_grad=True)
    outputs = static_outputs()
    outputs.disparities[0] = disparity
    loss = DeFeatLoss(LossConfig(**LOSS, scales=1, sky_weight=1.0, ssim_weight=0.0))
    total, _ = loss(outputs, target, sources[:1], k_norm, lambda d: 1 / (d + 1), labels=labels)
    total.backward()
    # Descending lowers the sky's disparity: d(mean over the 4 x 24 sky pixels) = 1/96 each.
    assert torch.allclose(disparity.grad[..., :4, :], torch.tensor(1 / 96), atol=1e-6)
    assert disparity.grad[..., 4:, :].abs().max() < 1e-6  # a still camera: no photometric pull


def test_movable_pixels_leave_the_photometric_term_exactly():
    target, sources, k_norm = frames(1, H, W)
    labels = torch.full((1, H, W), IGNORE, dtype=torch.uint8)
    labels[:, 5:10, 8:16] = CAR
    static = (labels != CAR).float()[:, None]
    outputs = static_outputs()
    error = PhotometricError()(sources[0], target)  # a still camera: the warp is the identity
    _, plain = DeFeatLoss(LossConfig(**LOSS))(outputs, target, sources[:1], k_norm,
                                              lambda d: 1 / (d + 1), labels=labels)
    loss = DeFeatLoss(LossConfig(**LOSS, mask_movable=True))
    _, masked = loss(outputs, target, sources[:1], k_norm, lambda d: 1 / (d + 1), labels=labels)
    assert plain['photometric'].item() == pytest.approx(error.mean().item(), rel=1e-5)
    expected = (error * static).sum() / static.sum()
    assert masked['photometric'].item() == pytest.approx(expected.item(), rel=1e-5)
    # Pointwise error alone: changing the source inside the car changes nothing.
    l1 = DeFeatLoss(LossConfig(**LOSS, mask_movable=True, ssim_weight=0.0))
    changed = sources[0].clone()
    changed[..., 5:10, 8:16] = 1 - changed[..., 5:10, 8:16]
    _, before = l1(outputs, target, sources[:1], k_norm, lambda d: 1 / (d + 1), labels=labels)
    _, after = l1(outputs, target, [changed], k_norm, lambda d: 1 / (d + 1), labels=labels)
    assert after['photometric'].item() == pytest.approx(before['photometric'].item(), rel=1e-6)
    changed[..., 0, 0] = 1 - changed[..., 0, 0]  # and outside it, something
    _, outside = l1(outputs, target, [changed], k_norm, lambda d: 1 / (d + 1), labels=labels)
    assert outside['photometric'].item() != pytest.approx(before['photometric'].item(), rel=1e-6)


def test_without_labels_the_movable_mask_follows_the_head():
    target, sources, k_norm = frames(1, H, W)
    logits = torch.zeros(1, NUM_CLASSES, H, W)
    logits[:, CAR, :, :12] = 5.0  # the head sees a car on the left half
    outputs = static_outputs(segmentation=logits)
    error = PhotometricError()(sources[0], target)
    _, terms = DeFeatLoss(LossConfig(**LOSS, mask_movable=True))(
        outputs, target, sources[:1], k_norm, lambda d: 1 / (d + 1))
    assert terms['photometric'].item() == pytest.approx(error[..., 12:].mean().item(), rel=1e-5)
    assert terms['segmentation'].item() == 0  # no labels: no cross-entropy


def test_segmentation_outputs_gradients_and_the_default_objective():
    net = small_net()
    target, sources, k_norm = frames()
    out = net.forward_train(target, sources, [-1, 1])
    assert out.segmentation.shape == (2, NUM_CLASSES, 64, 96) and out.pretext is None
    labels = torch.full((2, 64, 96), IGNORE, dtype=torch.uint8)
    labels[:, :20] = SKY
    loss = DeFeatLoss(LossConfig(contrastive_positives=64))
    assert not loss.config.uses_classes  # semantic terms are off by default
    total, terms = loss(out, target, sources, k_norm, net.to_depth, labels=labels)
    assert terms['segmentation'].item() > 0 and 'sky' not in terms
    total.backward()
    assert [n for n, p in net.named_parameters() if p.grad is None] == []
    with torch.no_grad():
        assert net.depth_net.depth(target).shape == (2, 1, 64, 96)
    flipped = net.forward_train(target.flip(-1), [], [])
    restored = unflip_outputs(flipped, torch.tensor([True, True]))
    assert torch.allclose(restored.segmentation, net.depth_net.segmentation(
        net.depth_net.encoder(target.flip(-1)))[0].flip(-1))


def test_measure_loss_reads_labels():
    net = small_net()
    target, sources, k_norm = frames()
    labels = torch.zeros(2, 64, 96, dtype=torch.uint8)
    loss = DeFeatLoss(LossConfig(contrastive_positives=64))
    _, with_labels = measure_loss(net, loss, target, sources, [-1, 1], k_norm, labels=labels)
    _, without = measure_loss(net, loss, target, sources, [-1, 1], k_norm)
    assert with_labels['segmentation'] > 0 and without['segmentation'] == 0
    with pytest.raises(ValueError, match='labels must be B x H x W'):
        measure_loss(net, loss, target, sources, [-1, 1], k_norm, labels=labels[:, :32])


def test_a_segmentation_model_saves_loads_and_refuses_another_architecture(tmp_path):
    net = small_net().eval()
    directory = save_model(net, tmp_path / 'model')
    loaded = load_model(directory).eval()
    image = frames(1)[0]
    with torch.no_grad():
        assert torch.equal(loaded.forward_train(image, [], []).segmentation,
                           net.forward_train(image, [], []).segmentation)
    config = json.loads((directory / 'config.json').read_text())
    config['model']['segmentation'] = False
    (directory / 'config.json').write_text(json.dumps(config))
    with pytest.raises(ValueError, match='does not match the architecture'):
        load_model(directory)
    plain = save_model(small_net(False), tmp_path / 'plain')
    config = json.loads((plain / 'config.json').read_text())
    config['model']['segmentation'] = True
    (plain / 'config.json').write_text(json.dumps(config))
    with pytest.raises(ValueError, match='does not match the architecture'):
        load_model(plain)


def test_loss_config_rejects_negative_semantic_weights():
    for name in ('segmentation_weight', 'sky_weight', 'pretext_weight'):
        with pytest.raises(ValueError, match=name):
            LossConfig(**{name: -1.0})


def test_the_segmentation_variant_config_trains_three_steps():
    config, model, step, batch = variant_step('segmentation')
    assert config.model.segmentation and config.loss.uses_classes
    assert config.loss.segmentation_weighting == 'unet'
    labels = torch.full((2, 64, 96), IGNORE, dtype=torch.uint8)
    labels[:, :16] = SKY
    labels[:, 40:, 30:60] = CAR
    batch['labels'] = labels
    before = [p.detach().clone() for p in model.parameters()]
    terms = []
    for number in range(3):
        # The first step's batch has no labels (data without them): all unknown.
        result = step(batch if number else {k: v for k, v in batch.items() if k != 'labels'})
        assert result.skipped == '' and math.isfinite(result.terms['total'].item())
        terms.append(result.terms)
    assert terms[0]['segmentation'] == 0 and terms[1]['segmentation'] > 0
    assert all('sky' in t for t in terms)
    head = {name for name, _ in model.named_parameters() if '.segmentation.' in name}
    changed = {name for (name, p), b in zip(model.named_parameters(), before)
               if not torch.equal(p, b)}
    assert head and head <= changed
