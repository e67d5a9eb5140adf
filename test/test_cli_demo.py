"""
``defeat-ros demo``: synthetic drives through the real node graph (player, node, recorder).

Runs the whole demo on tiny drives with a small untrained model: bags in and out, the recorded
results line up with the input frames, the figures and summary are written, and a second run
reuses the rendered drives.
"""

import json

import cv2
from defeat_ros.apps.cli import main
from defeat_ros.apps.demo import CONDITIONS, read_topics
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.evaluation.report import BAR_HEIGHT, GAP, TITLE_HEIGHT
from defeat_ros.messages.typestore import stamp_ns
from defeat_ros.nets import ModelConfig, save_model
import pytest
import torch
from untrained import untrained_model

pytestmark = pytest.mark.ros_graph  # a pytest process of their own: see pytest.ini

FRAMES = 6
ARGS = ['--frames', str(FRAMES), '--height', '64', '--width', '128', '--rate', '0.25',
        '--backend', 'pytorch', '--seed', '3']


def test_demo_runs_the_node_graph_and_measures_it(tmp_path, capsys):
    torch.manual_seed(0)
    model = save_model(untrained_model(ModelConfig(height=64, width=96, encoder_width=16,
                                                   feature_dims=8)), tmp_path / 'model')
    out = tmp_path / 'demo'
    assert main(['demo', '--out', str(out), '--model', str(model), *ARGS]) == 0
    summary = json.loads((out / 'summary.json').read_text())
    world = render_sequence(WorldConfig(width=128, height=64, frames=FRAMES, seed=3))
    stamps = set(stamp_ns(1_700_000_000.0, world.stamps))
    for condition in CONDITIONS:
        metrics = summary['conditions'][condition]
        assert metrics['frames_in_drive'] == FRAMES
        assert metrics['frames_evaluated'] >= FRAMES - 1
        assert 0 < metrics['abs_rel'] < 2 and 0 <= metrics['a1'] <= 1
        assert metrics['ate_rmse_m'] >= 0
        results = read_topics(out / 'results' / condition,
                              ['/camera/depth/image', '/camera/odometry', '/camera/points'])
        for topic, messages in results.items():
            assert messages, f'{topic} was not recorded'
            assert set(messages) <= stamps, f'{topic} stamps are not input stamps'
        depth = next(iter(results['/camera/depth/image'].values()))
        assert (depth.encoding, depth.height, depth.width) == ('32FC1', 64, 128)
    assert summary['backend'].startswith('pytorch')
    for figure in ('contact_sheet.png', 'trajectory.png'):
        assert (out / figure).stat().st_size > 10_000
    # evaluate's figures: two frames per condition, each a titled column of input, truth,
    # prediction, error and features, the 128 x 64 images at 384 x 192 over their strips.
    sheet = cv2.imread(str(out / 'contact_sheet.png'))
    assert sheet.shape == (TITLE_HEIGHT + 5 * (192 + BAR_HEIGHT), 4 * 384 + 3 * GAP, 3)
    assert cv2.imread(str(out / 'trajectory.png')).shape == (TITLE_HEIGHT + 560, 2 * 560 + GAP, 3)
    printed = capsys.readouterr().out
    assert 'AbsRel (median-scaled)' in printed and 'night' in printed

    drive = out / 'drives' / 'night'
    rendered = (drive / 'metadata.yaml').stat().st_mtime_ns
    assert main(['demo', '--out', str(out), '--model', str(model), *ARGS]) == 0
    assert (drive / 'metadata.yaml').stat().st_mtime_ns == rendered


def test_demo_without_a_model_directory_is_a_clear_error(tmp_path, capsys):
    assert main(['demo', '--out', str(tmp_path), '--model', str(tmp_path / 'nothing')]) == 2
    assert 'not a model directory' in capsys.readouterr().err
