"""Evaluation and Perception feed a network the same pixels: one resize of camera images."""

from defeat_ros.data.image_ops import rgb_tensor
from defeat_ros.evaluation.inference import network_input
from defeat_ros.nets import DeFeatNet, ModelConfig, save_model
from defeat_ros.runtime.perception import Perception
import numpy as np
import pytest
import torch


@pytest.fixture(scope='module')
def perception(tmp_path_factory):
    torch.manual_seed(0)
    model = DeFeatNet(ModelConfig(encoder_width=16, feature_dims=8, height=64, width=192))
    return Perception(save_model(model, tmp_path_factory.mktemp('model') / 'tiny'),
                      backend='pytorch', device='cpu')


@pytest.mark.parametrize('size', [(375, 1242), (48, 96), (64, 192)])
def test_evaluation_input_is_what_perception_feeds_the_network(perception, size):
    image = np.random.default_rng(size[1]).integers(0, 256, (*size, 3), dtype=np.uint8)
    expected = perception.network_input(image)  # numpy: the camera step runs without torch
    got = network_input(rgb_tensor(image)[None], 64, 192)
    assert got.shape == expected.shape == (1, 3, 64, 192)
    assert np.array_equal(got.numpy(), expected)
