"""TripleDNet's pretext decoder (seed 003): its loss, distillation skips, saving and export."""

import json
import math

from defeat_ros.losses import DeFeatLoss, LossConfig
from defeat_ros.losses.pretext import pretext_losses
from defeat_ros.nets import DeFeatNet, load_model, ModelConfig, save_model
from defeat_ros.nets.pretext import chroma, grey
from defeat_ros.runtime.onnx_export import export_onnx
from defeat_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from defeat_ros.runtime.torch_backend import TorchBackend
from defeat_ros.trainer.flip import unflip_outputs
import pytest
import torch
from variant_testing import frames, SMALL, variant_step


def small_net(pretext='both', **changes):
    torch.manual_seed(0)
    return DeFeatNet(ModelConfig(**SMALL, pretext=pretext, **changes))


def test_pretext_loss_is_the_mean_charbonnier_error_per_task():
    prediction = torch.tensor([[[[0.0, 0.3]]]])
    truth = torch.tensor([[[[0.4, 0.3]]]])
    eps = 1e-3
    losses = pretext_losses({'reconstruction': (prediction, truth),
                             'colourisation': (truth, truth)}, eps)
    assert losses['reconstruction'].item() == pytest.approx(
        (math.sqrt(0.16 + eps ** 2) + eps) / 2, rel=1e-6)
    assert losses['colourisation'].item() == pytest.approx(eps, rel=1e-6)


def test_grey_and_chroma_of_known_colours():
    white, red = torch.ones(1, 3, 1, 1), torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert grey(red).item() == pytest.approx(0.299)
    assert grey(white).item() == pytest.approx(1.0)
    assert chroma(white).abs().max() < 1e-3  # achromatic: a* = b* = 0
    assert chroma(0.5 * white).abs().max() < 1e-3
    a, b = chroma(red).flatten().tolist()  # sRGB red is Lab (53.24, 80.09, 67.20)
    assert a == pytest.approx(0.8009, abs=2e-3) and b == pytest.approx(0.6720, abs=2e-3)


@pytest.mark.parametrize('pretext,tasks', [('reconstruction', {'reconstruction': 3}),
                                           ('colourisation', {'colourisation': 2}),
                                           ('both', {'reconstruction': 3, 'colourisation': 2})])
def test_pretext_outputs_and_their_truths(pretext, tasks):
    net = small_net(pretext)
    target, sources, _ = frames()
    with torch.no_grad():
        out = net.forward_train(target, sources, [-1, 1])
    assert {task: pair[0].shape[1] for task, pair in out.pretext.items()} == tasks
    for task, (prediction, truth) in out.pretext.items():
        assert prediction.shape == truth.shape == (2, tasks[task], 64, 96)
    if 'reconstruction' in tasks:
        assert torch.equal(out.pretext['reconstruction'][1], target)
        assert out.pretext['reconstruction'][0].min() >= 0
        assert out.pretext['reconstruction'][0].max() <= 1
    if 'colourisation' in tasks:
        assert torch.allclose(out.pretext['colourisation'][1], chroma(target))
    assert out.segmentation is None
    assert small_net('none').depth_net.pretext is None


def test_depth_reads_the_pretext_decoder_through_the_distillation_skips():
    net = small_net().eval()
    trunk = net.depth_net.pretext.trunk
    # Each depth up-convolution takes the pretext map of its level beside the encoder skip.
    plain = small_net('none')
    for level, (with_skip, without) in enumerate(zip(net.depth_net.decoder.upconvs_out[::-1],
                                                     plain.depth_net.decoder.upconvs_out[::-1])):
        extra = with_skip[0][1].in_channels - without[0][1].in_channels
        assert extra == trunk.level_channels[level]
    image = frames()[0]
    with torch.no_grad():
        depth = net.depth_net.depth(image)  # alone, as inference runs it
        assert depth.shape == (2, 1, 64, 96)
        assert torch.equal(net.depth_net(image)[0], net.forward_train(image, [], [])
                           .disparities[0])
        for head in net.depth_net.pretext.heads.values():  # the heads do not matter for depth
            head[-1][1].weight.add_(1.0)
        assert torch.equal(net.depth_net.depth(image), depth)
        trunk.upconvs_out[-1][0][1].weight.add_(0.1)  # the trunk does
        assert not torch.allclose(net.depth_net.depth(image), depth)


def test_the_depth_loss_alone_trains_the_pretext_trunk_and_the_total_every_parameter():
    net = small_net()
    target, sources, k_norm = frames()
    loss = DeFeatLoss(LossConfig(contrastive_positives=64))
    out = net.forward_train(target, sources, [-1, 1])
    total, terms = loss(out, target, sources, k_norm, net.to_depth)
    assert terms['photometric'].item() > 0
    # Depth alone reaches the trunk (distillation via backpropagation), not the heads.
    trunk = list(net.depth_net.pretext.trunk.parameters())
    heads = list(net.depth_net.pretext.heads.parameters())
    depth_grads = torch.autograd.grad(out.disparities[0].sum(), trunk + heads,
                                      retain_graph=True, allow_unused=True)
    assert all(g is not None for g in depth_grads[:len(trunk)])
    assert all(g is None for g in depth_grads[len(trunk):])
    total.backward()
    assert [n for n, p in net.named_parameters() if p.grad is None] == []


def test_pretext_term_enters_the_total_with_alpha_and_only_for_pretext_models():
    target, sources, k_norm = frames()
    net = small_net()
    out = net.forward_train(target, sources, [-1, 1])
    totals = {}
    for alpha in (0.0, 1.0, 2.5):
        torch.manual_seed(3)  # the contrastive term samples pixels
        loss = DeFeatLoss(LossConfig(contrastive_positives=64, pretext_weight=alpha))
        totals[alpha], terms = loss(out, target, sources, k_norm, net.to_depth)
    expected = sum(pretext_losses(out.pretext).values())
    assert terms['pretext'].item() == pytest.approx(expected.item(), rel=1e-6)
    assert terms['pretext'].item() == pytest.approx(
        terms['pretext_reconstruction'].item() + terms['pretext_colourisation'].item())
    assert (totals[2.5] - totals[0.0]).item() == pytest.approx(2.5 * expected.item(), rel=1e-5)
    assert (totals[1.0] - totals[0.0]).item() == pytest.approx(expected.item(), rel=1e-5)
    plain = small_net('none')
    _, terms = DeFeatLoss(LossConfig(contrastive_positives=64))(
        plain.forward_train(target, sources, [-1, 1]), target, sources, k_norm, plain.to_depth)
    assert not any(name.startswith('pretext') for name in terms)


def test_unflip_keeps_pretext_predictions_and_truths_aligned():
    net = small_net()
    target = frames(1)[0]
    with torch.no_grad():
        out = net.forward_train(target.flip(-1), [], [])
    prediction, truth = (m.clone() for m in out.pretext['reconstruction'])
    restored = unflip_outputs(out, torch.tensor([True]))
    assert torch.equal(restored.pretext['reconstruction'][0], prediction.flip(-1))
    assert torch.equal(restored.pretext['reconstruction'][1], target)
    assert torch.equal(truth, target.flip(-1))


def test_a_pretext_model_saves_loads_and_refuses_another_architecture(tmp_path):
    net = small_net('both', segmentation=True).eval()
    directory = save_model(net, tmp_path / 'model')
    loaded = load_model(directory).eval()
    assert loaded.config.pretext == 'both' and loaded.config.segmentation
    image = frames(1)[0]
    with torch.no_grad():
        assert torch.equal(loaded.depth_net.depth(image), net.depth_net.depth(image))
        a = loaded.forward_train(image, [], []).pretext['colourisation'][0]
        assert torch.equal(a, net.forward_train(image, [], []).pretext['colourisation'][0])
    config_path = directory / 'config.json'
    for change in ({'pretext': 'none'}, {'pretext': 'reconstruction'}):
        config = json.loads(config_path.read_text())
        config['model'].update(change)
        (tmp_path / 'other').mkdir(exist_ok=True)
        (tmp_path / 'other' / 'config.json').write_text(json.dumps(config))
        (tmp_path / 'other' / 'model.safetensors').write_bytes(
            (directory / 'model.safetensors').read_bytes())
        with pytest.raises(ValueError, match='does not match the architecture'):
            load_model(tmp_path / 'other')
    with pytest.raises(ValueError, match='pretext must be one of'):
        ModelConfig(pretext='jigsaw')


def test_a_pretext_model_exports_and_onnx_depth_matches_pytorch(tmp_path):
    directory = save_model(small_net('both', segmentation=True), tmp_path / 'model')
    export_onnx(directory)
    image = frames(1)[0]
    reference = TorchBackend(directory).depth(image)
    assert reference.shape[-2:] == (64, 96)
    exported = OnnxRuntimeBackend(directory).depth(image)
    assert ((exported - reference).abs() / reference).max() < 1e-4


def test_the_pretext_variant_config_trains_three_steps():
    config, model, step, batch = variant_step('pretext')
    assert config.model.pretext == 'both' and config.loss.pointwise == 'charbonnier'
    assert config.loss.pretext_weight == 1.0 and config.loss.feature_warp_weight == 1.0
    before = [p.detach().clone() for p in model.parameters()]
    for _ in range(3):
        result = step(batch)
        assert result.skipped == '' and math.isfinite(result.terms['total'].item())
        assert 'pretext' in result.terms
    changed = {name for (name, p), b in zip(model.named_parameters(), before)
               if not torch.equal(p, b)}
    pretext = {name for name, _ in model.named_parameters() if '.pretext.' in name}
    assert pretext and pretext <= changed
