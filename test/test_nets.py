"""Network shapes, ranges, gradients, export-friendliness and self-describing model directories."""

from dataclasses import replace
import json

from defeat_ros.geometry import normalise_intrinsics
from defeat_ros.losses import DeFeatLoss, LossConfig, VelocitySupervision
from defeat_ros.nets import (DeFeatNet, DepthNet, FeatNet, load_model, ModelConfig, PoseNet,
                             save_model)
import pytest
import torch
import torchvision
from untrained import untrained_model


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return DeFeatNet(ModelConfig(feature_dims=16)).eval()


@pytest.mark.parametrize('height,width', [(192, 640), (352, 480)])
def test_output_shapes_and_ranges(model, height, width):
    image = torch.rand(1, 3, height, width)
    with torch.no_grad():
        disparities = model.depth_net(image)
        depth = model.depth_net.depth(image)
        features = model.feat_net(image)
        axis_angle, translation = model.pose_net(image, torch.rand(1, 3, height, width))
    assert [tuple(d.shape) for d in disparities] == [
        (1, 1, height >> s, width >> s) for s in range(4)]
    assert all(((d >= 0) & (d <= 1)).all() for d in disparities)
    assert depth.shape == (1, 1, height, width)
    assert depth.min() >= 0.1 - 1e-6 and depth.max() <= 100.0 + 1e-3
    assert features.shape == (1, 16, height, width)
    assert torch.allclose(features.norm(dim=1), torch.ones(1, height, width), atol=1e-5)
    assert axis_angle.shape == (1, 3) and translation.shape == (1, 3)
    # The 0.01 output scaling: an untrained PoseNet predicts near-identity motion.
    assert axis_angle.abs().max() < 0.1 and translation.abs().max() < 0.1


@pytest.mark.parametrize('layers', [34, 50])
def test_deeper_encoders_build_and_run(layers):
    net = DepthNet(num_layers=layers).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 3, 64, 96))[0].shape == (1, 1, 64, 96)


@pytest.mark.parametrize('loss_config,model_config', [
    (LossConfig(), ModelConfig()),
    (LossConfig(explainability=True, bidirectional=True), ModelConfig(explainability=True)),
])
def test_gradients_reach_all_three_networks(loss_config, model_config):
    torch.manual_seed(0)
    net = DeFeatNet(model_config)
    loss = DeFeatLoss(loss_config)
    target = torch.rand(2, 3, 64, 96)
    sources = [torch.rand(2, 3, 64, 96), torch.rand(2, 3, 64, 96)]
    k_norm = normalise_intrinsics(60.0, 60.0, 47.5, 31.5, 96, 64).expand(2, 3, 3)
    outputs = net.forward_train(target, sources, [-1, 1], loss.needs_source_depth)
    total, _ = loss(outputs, target, sources, k_norm, net.to_depth)
    total.backward()
    for name, sub in [('depth', net.depth_net), ('feat', net.feat_net), ('pose', net.pose_net)]:
        grads = [p.grad for p in sub.parameters()]
        assert all(g is not None for g in grads), f'{name} has parameters without gradient'
        assert sum(g.abs().sum() for g in grads) > 0, f'no gradient reached {name}'


def test_pose_order_convention_inverts_earlier_sources():
    torch.manual_seed(0)
    net = untrained_model(ModelConfig()).eval()
    a, b = torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        later = net.relative_pose(a, b, source_is_earlier=False)
        earlier = net.relative_pose(b, a, source_is_earlier=True)
    # (target b, earlier source a) feeds (a, b) like (target a, later source b), then inverts.
    assert torch.allclose(earlier @ later, torch.eye(4)[None], atol=1e-6)


@pytest.mark.parametrize('net,inputs', [
    (DepthNet(), (torch.rand(1, 3, 64, 96),)),
    (FeatNet(feature_dims=8), (torch.rand(1, 3, 64, 96),)),
    (PoseNet(), (torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96))),
])
def test_forward_passes_export_without_data_dependent_control_flow(net, inputs):
    exported = torch.export.export(net.eval(), inputs, strict=False)
    with torch.no_grad():
        expected = net(*inputs)
        actual = exported.module()(*inputs)
    leaves = torch.utils._pytree.tree_leaves
    for e, a in zip(leaves(expected), leaves(actual)):
        assert torch.allclose(e, a, atol=1e-5)


def test_pretrained_encoder_weights_load_from_a_local_file(tmp_path):
    from safetensors.torch import save_file
    resnet = torchvision.models.resnet18(weights=None)
    path = tmp_path / 'resnet18.safetensors'
    save_file({k: v.contiguous() for k, v in resnet.state_dict().items()}, str(path))
    net = DepthNet(num_layers=18, weights_path=path)
    assert torch.equal(net.encoder.stem[0].weight, resnet.conv1.weight)
    pose = PoseNet(num_layers=18, weights_path=path)
    stacked = pose.encoder.stem[0].weight
    assert stacked.shape[1] == 6
    assert torch.allclose(stacked[:, :3] + stacked[:, 3:], resnet.conv1.weight)
    with pytest.raises(ValueError, match='not a ResNet34 checkpoint'):
        DepthNet(num_layers=34, weights_path=path)
    with pytest.raises(FileNotFoundError):
        DepthNet(weights_path=tmp_path / 'missing.pth')


def test_model_directory_round_trip(tmp_path):
    torch.manual_seed(0)
    net = DeFeatNet(ModelConfig(feature_dims=8, height=64, width=96, encoder_width=16,
                                provenance={'command': 'test'})).eval()
    save_model(net, tmp_path / 'model')
    loaded = load_model(tmp_path / 'model').eval()
    assert loaded.config == net.config
    image = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(loaded.depth_net.depth(image), net.depth_net.depth(image))
        assert torch.equal(loaded.feat_net(image), net.feat_net(image))


def test_a_model_directory_for_another_architecture_is_rejected(tmp_path):
    save_model(DeFeatNet(ModelConfig(feature_dims=8, encoder_width=16)), tmp_path / 'model')
    config_path = tmp_path / 'model' / 'config.json'
    config = json.loads(config_path.read_text())
    config['model']['depth_layers'] = 34
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match='does not match the architecture'):
        load_model(tmp_path / 'model')


def test_corrupt_or_incomplete_model_directories_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='not a defeat_ros model directory'):
        load_model(tmp_path)
    directory = save_model(DeFeatNet(ModelConfig(feature_dims=8, encoder_width=16)),
                           tmp_path / 'model')
    weights = directory / 'model.safetensors'
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ValueError, match='corrupt'):
        load_model(directory)
    (directory / 'config.json').write_text(
        '{"format": "defeat_ros.model/1", "model": {"depth": 1}}')
    with pytest.raises(ValueError, match='unknown ModelConfig fields'):
        load_model(directory)
    (directory / 'config.json').write_text('not json')
    with pytest.raises(ValueError, match='not valid JSON'):
        load_model(directory)


def test_model_config_validation():
    with pytest.raises(ValueError, match='multiples of 32'):
        ModelConfig(height=100)
    with pytest.raises(ValueError, match='18, 34 or 50'):
        ModelConfig(pose_layers=101)
    with pytest.raises(ValueError, match='min_depth'):
        ModelConfig(min_depth=10.0, max_depth=1.0)
    with pytest.raises(ValueError, match='initial_depth'):
        ModelConfig(initial_depth=150.0)


def test_initial_depth_sets_what_an_untrained_depth_net_predicts():
    torch.manual_seed(0)
    config = ModelConfig(height=64, width=96, encoder_width=16, max_depth=80.0)
    image = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        default = DeFeatNet(config).eval().depth_net.depth(image)
        started = DeFeatNet(replace(config, initial_depth=10.0)).eval().depth_net.depth(image)
    assert default.median() < 0.5  # PyTorch's initialisation: near 2 x min_depth
    assert 8.0 < started.min() and started.max() < 12.5


@pytest.mark.parametrize('width', [16, 32])
def test_narrow_encoders_build_smaller_models_and_refuse_imagenet_weights(width, tmp_path):
    standard = DeFeatNet(ModelConfig(height=64, width=96))
    narrow = DeFeatNet(ModelConfig(height=64, width=96, encoder_width=width))
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    assert count(narrow) < count(standard) * (width / 64) ** 2 * 1.5
    depth = narrow.depth_net.depth(torch.rand(1, 3, 64, 96))
    assert depth.shape == (1, 1, 64, 96)
    path = tmp_path / 'resnet18.pth'
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match='need encoder width 64'):
        DepthNet(weights_path=path, width=width)
    with pytest.raises(ValueError, match='encoder_width'):
        ModelConfig(encoder_width=48)


def test_pose_scale_multiplies_the_pose_outputs():
    torch.manual_seed(0)
    small, large = PoseNet(width=16), PoseNet(width=16, output_scale=0.1)
    small.decoder[-1].reset_parameters()  # a new PoseNet predicts no motion: 10 x 0 is 0
    large.load_state_dict(small.state_dict())
    frames = torch.rand(2, 3, 64, 96), torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        for low, high in zip(small.eval()(*frames), large.eval()(*frames)):
            assert torch.allclose(high, 10 * low, rtol=1e-4, atol=1e-7)
    assert DeFeatNet(ModelConfig(height=64, width=96, pose_scale=0.1)).pose_net.output_scale == 0.1


def test_mean_inverse_depth_translation_scaling_matches_training_and_export():
    """The reference's translation times the target's mean inverse depth, everywhere alike."""
    from defeat_ros.runtime.export_graphs import PoseGraph
    from defeat_ros.runtime.graph_backend import pose_from_motion
    torch.manual_seed(0)
    plain = untrained_model(ModelConfig(height=64, width=96, encoder_width=16, feature_dims=4))
    scaled = DeFeatNet(replace(plain.config, translation_scaling='mean_inverse_depth'))
    scaled.load_state_dict(plain.state_dict())
    previous, current = torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        plain.eval(), scaled.eval()
        factor = (1 / scaled.depth_net.depth(current)).mean()
        unscaled = plain.relative_pose(current, previous, True)
        pose = scaled.relative_pose(current, previous, True)
        assert torch.allclose(pose[:, :3, :3], unscaled[:, :3, :3])
        assert torch.allclose(pose[:, :3, 3], unscaled[:, :3, 3] * factor, rtol=1e-5)
        trained = scaled.forward_train(current, [previous], [-1]).poses[0]
        assert torch.allclose(trained, pose, atol=1e-6)
        exported = pose_from_motion(PoseGraph(scaled)(previous, current), scaled.config)
        assert torch.allclose(exported, pose, atol=1e-6)
    with pytest.raises(ValueError, match='translation_scaling'):
        ModelConfig(translation_scaling='median')


def test_a_new_posenet_predicts_no_motion_for_velocity_supervision_to_grow():
    """
    A new PoseNet predicts the identity, where velocity supervision has no gradient.

    That loss pulls on a translation's length only, so it grows whatever direction PoseNet
    predicts; from no motion, the direction of the first motions comes from the images
    (models/README.md: a random start locked in sideways or backward motion with some seeds).
    """
    torch.manual_seed(1)
    net = DeFeatNet(ModelConfig(height=64, width=96, encoder_width=16, feature_dims=4))
    target, source = torch.rand(2, 3, 64, 96), torch.rand(2, 3, 64, 96)
    pose = net.forward_train(target, [source], [1], with_features=False).poses[0]
    assert torch.equal(pose, torch.eye(4).expand(2, 4, 4))
    VelocitySupervision()([pose], torch.tensor([[1.0], [1.5]])).backward()
    gradients = [p.grad for p in net.pose_net.parameters() if p.grad is not None]
    assert gradients and not any(g.any() for g in gradients)
