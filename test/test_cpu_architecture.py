"""
The architecture options for CPUs keep the networks' contract and train.

ModelConfig ``shared_encoder`` (FeatNet decodes DepthNet's encoder), ``feature_stride`` 2 (a
half-resolution feature decoder, upsampled), ``pose_stride`` 2 (PoseNet on the pair at half
resolution) and ``decoder`` 'fast' (zero padding and ReLU): outputs keep their shapes, ranges
and unit norm, the one-graph depth and features equal the separate ones, every exported graph
agrees with PyTorch in ONNX Runtime, and a training step reaches every network.
"""

from dataclasses import replace

from defeat_ros.nets import load_model, ModelConfig, save_model
from defeat_ros.nets.skip_decoder import DECODERS
from defeat_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from defeat_ros.runtime.torch_backend import TorchBackend
import pytest
import torch
from torch import nn
import torch.nn.functional as F
from untrained import untrained_model
from variant_testing import frames, SMALL, variant_step

FAST = ModelConfig(**{**SMALL, 'width': 128}, shared_encoder=True, feature_stride=2,
                   pose_stride=2, decoder='fast')
"""Every option at once, at a size pose_stride 2 accepts (multiples of 64)."""


@pytest.fixture(scope='module')
def fast_model():
    torch.manual_seed(0)
    return untrained_model(FAST).eval()


def test_every_option_keeps_the_output_contract(fast_model):
    image, other = torch.rand(1, 3, 64, 128), torch.rand(1, 3, 64, 128)
    with torch.no_grad():
        depth, features = fast_model.depth_and_features(image)
        transform = fast_model.relative_pose(image, other, source_is_earlier=True)
        assert torch.equal(depth, fast_model.depth_net.depth(image))
        assert torch.equal(features, fast_model.features(image))
    assert depth.shape == (1, 1, 64, 128) and 0.1 <= depth.min() <= depth.max() <= 100.0
    assert features.shape == (1, 8, 64, 128)
    torch.testing.assert_close(features.norm(dim=1), torch.ones(1, 64, 128))
    assert transform.shape == (1, 4, 4) and torch.isfinite(transform).all()


def test_each_option_removes_the_work_it_names(fast_model):
    paper = untrained_model(replace(FAST, shared_encoder=False, feature_stride=1, pose_stride=1,
                                    decoder='monodepth'))
    assert paper.feat_net.encoder is not None and fast_model.feat_net.encoder is None
    # The feature decoder stops at half resolution: one level (two convolutions) fewer.
    assert len(paper.feat_net.decoder.upconvs_out) == 5
    assert len(fast_model.feat_net.decoder.upconvs_out) == 4
    # PoseNet's encoder sees the pair at half the size: its last map is half as large.
    pair = torch.rand(1, 3, 64, 128), torch.rand(1, 3, 64, 128)
    with torch.no_grad():
        assert paper.pose_net.encode(*pair)[-1].shape[-2:] == (2, 4)
        assert fast_model.pose_net.encode(*pair)[-1].shape[-2:] == (1, 2)
    kinds = {type(m) for m in fast_model.modules()}
    assert nn.ELU not in kinds and nn.ReflectionPad2d not in kinds
    assert {nn.ELU, nn.ReflectionPad2d} <= {type(m) for m in paper.modules()}
    own = sum(p.numel() for p in paper.parameters())
    assert sum(p.numel() for p in fast_model.parameters()) < 0.75 * own


def test_a_half_resolution_feature_map_is_upsampled_then_normalised(fast_model):
    image = torch.rand(1, 3, 64, 128)
    with torch.no_grad():
        coarse = fast_model.feat_net.decoder(fast_model.depth_net.encoder(image))[0]
        expected = F.normalize(F.interpolate(coarse, scale_factor=2.0, mode='bilinear'), dim=1)
        assert coarse.shape[-2:] == (32, 64)
        torch.testing.assert_close(fast_model.features(image), expected)


@pytest.mark.parametrize('change,message', [
    ({'feature_stride': 4}, 'feature_stride must be 1 or 2'),
    ({'pose_stride': 3}, 'pose_stride must be 1 or 2'),
    ({'pose_stride': 2, 'width': 96}, 'multiples of 64'),
    ({'pose_stride': 2, 'explainability': True}, 'explainability masks need pose_stride 1'),
    ({'decoder': 'tiny'}, f'decoder must be one of {DECODERS}'),
])
def test_impossible_options_are_refused(change, message):
    with pytest.raises(ValueError, match=message.replace('(', r'\(').replace(')', r'\)')):
        replace(FAST, **change)


def test_a_training_step_reaches_every_network():
    config, model, step, batch = variant_step('fast', width=128)
    assert (config.model.feature_stride, config.model.pose_stride, config.model.decoder) == \
        (1, 2, 'fast')
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    result = step(batch)
    assert result.skipped == '' and torch.isfinite(result.terms['total'])
    changed = {name.split('.')[0] for name, p in model.named_parameters()
               if not torch.equal(p, before[name])}
    assert changed == {'depth_net', 'feat_net', 'pose_net'}


def test_feature_losses_train_the_shared_encoder():
    """With one encoder, the feature terms' gradient reaches DepthNet's encoder."""
    torch.manual_seed(0)
    model = untrained_model(replace(FAST, width=128))
    target, sources, _ = frames(width=128)
    outputs = model.forward_train(target, sources, [-1, 1])
    outputs.features.square().mean().backward()  # a stand-in feature-only objective
    assert model.depth_net.encoder.stem[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.pose_net.parameters())


def test_exported_graphs_match_pytorch(tmp_path, fast_model):
    directory = save_model(fast_model, tmp_path / 'fast')
    assert load_model(directory).config == FAST
    reference, runtime = TorchBackend(directory), OnnxRuntimeBackend(directory)
    image, other = torch.rand(1, 3, 64, 128), torch.rand(1, 3, 64, 128)
    depth, features = runtime.depth_and_features(image)
    want_depth, want_features = reference.depth_and_features(image)
    torch.testing.assert_close(depth, want_depth, rtol=1e-4, atol=1e-4)
    assert F.cosine_similarity(features, want_features, dim=1).min() > 0.9999
    torch.testing.assert_close(runtime.depth(image), depth)
    torch.testing.assert_close(runtime.features(image), features)
    torch.testing.assert_close(runtime.pose(other, image), reference.pose(other, image),
                               rtol=1e-4, atol=1e-5)
