"""
Metric scale from the vehicle's speed: the distance between frames, the steps, the depth.

The distance is the speed integrated between two frame stamps (exact for a speed linear in
time); Perception in ``scale_mode`` speed gives each relative pose that length, keeps its
rotation and direction, and scales depth by the smoothed ratio. An untrained model on its real
backend stands in for a trained one: only the relation to 'model' mode is checked.
"""

import math

from defeat_ros.camera.speed_history import SpeedHistory
from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.nets import ModelConfig, save_model
from defeat_ros.runtime.perception import Perception
from defeat_ros.runtime.speed_scale import MIN_STEP_M, SpeedScale
import numpy as np
import pytest
import torch
from untrained import untrained_model

MS = 1_000_000


def linear_history():
    """Speed 2 + 10 t m/s (t in s), measured every 20 ms from 0 to 400 ms."""
    history = SpeedHistory(max_gap_s=0.5)
    for t in range(0, 401, 20):
        history.add(t * MS, 2.0 + t / 100)
    return history


def test_distance_is_the_speed_integrated_between_the_frames():
    history = linear_history()
    assert history.travelled(50 * MS, 250 * MS) == pytest.approx(0.7)  # 0.4 + 5 (0.25² - 0.05²)
    # After the newest measurement (6 m/s at 400 ms) its speed holds for up to max_gap_s.
    assert history.travelled(300 * MS, 600 * MS) == pytest.approx(0.55 + 0.2 * 6.0)
    assert math.isnan(history.travelled(300 * MS, 950 * MS))
    assert math.isnan(history.travelled(-10 * MS, 100 * MS))
    assert math.isnan(SpeedHistory().travelled(0, 100 * MS))


def test_no_distance_across_a_gap_in_the_measurements():
    history = SpeedHistory(max_gap_s=0.5)
    for t, speed in ((0, 3.0), (100, 3.0), (800, 5.0), (900, 5.0)):
        history.add(t * MS, speed)
    assert math.isnan(history.travelled(50 * MS, 850 * MS))
    assert history.travelled(800 * MS, 900 * MS) == pytest.approx(0.5)
    assert history.travelled(0, 100 * MS) == pytest.approx(0.3)


def test_each_step_takes_the_distance_and_the_depth_the_ratio():
    scale = SpeedScale()
    assert scale.scale == 1.0
    assert scale.update(np.array([0.0, 0.0, 2.0]), 1.0) == (0.5, True)
    assert scale.scale == pytest.approx(0.5)  # two model units per metre
    assert scale.update(np.array([0.0, 0.0, 2.0]), math.nan) == (pytest.approx(0.5), False)
    short = MIN_STEP_M / 2  # too short to say anything about the scale, but still its length
    assert scale.update(np.array([0.0, 0.0, 0.1]), short) == (pytest.approx(short / 0.1), True)
    assert scale.scale == pytest.approx(0.5)
    assert scale.update(np.array([0.0, 0.3, 0.0]), 0.0) == (0.0, True)  # standing still
    scale.reset()
    assert scale.scale == 1.0


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    config = ModelConfig(feature_dims=8, height=64, width=96, encoder_width=16)
    return save_model(untrained_model(config), tmp_path_factory.mktemp('model') / 'model')


def test_perception_sets_step_lengths_from_the_distance(model_dir):
    drive = render_sequence(WorldConfig(width=160, height=64, frames=4, seed=21))
    plain = Perception(model_dir, 'onnxruntime')
    speed = Perception(model_dir, 'onnxruntime', scale_mode='speed')
    assert speed.metric_source == 'vehicle speed'
    travelled = [math.nan, 0.8, 0.9, math.nan]
    for image, distance in zip(images_uint8(drive.images), travelled):
        reference = plain(image, features=False, k_norm=drive.k_norm)
        result = speed(image, features=False, k_norm=drive.k_norm, travelled=distance)
        assert np.allclose(result.depth, reference.depth * result.scale, rtol=1e-5)
        if reference.transform is None:
            assert result.transform is None and result.scale == 1.0
            continue
        assert result.step_from_speed == math.isfinite(distance)
        assert np.allclose(result.transform[:3, :3], reference.transform[:3, :3])
        network = reference.transform[:3, 3]
        if result.step_from_speed:
            assert np.linalg.norm(result.transform[:3, 3]) == pytest.approx(distance)
            assert np.allclose(result.transform[:3, 3] / distance,
                               network / np.linalg.norm(network))
        else:
            assert np.allclose(result.transform[:3, 3], network * result.scale)
    assert result.scale != 1.0  # the measured steps set the depth's scale
