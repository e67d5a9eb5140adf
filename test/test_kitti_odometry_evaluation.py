"""KITTI odometry layout (synthetic writer, pose reader, camera offset) and pose evaluation."""

import json

from defeat_ros.apps.synth import run_synth
from defeat_ros.data.kitti_odometry import (CAMERA2_OFFSET, camera_offset, camera_poses,
                                            read_poses, write_kitti_odometry)
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.evaluation.inference import predict_depth, predict_motions, refine_motions
from defeat_ros.evaluation.kitti_odometry import evaluate_odometry_sequence
from defeat_ros.evaluation.pose import relative_motions, snippet_ate_summary
from defeat_ros.evaluation.protocol import EvaluationConfig
from defeat_ros.evaluation.references import BENCHMARKS
from defeat_ros.nets import load_model
import numpy as np
import pytest
from test_evaluation_script import load_script

FRAMES = 8


@pytest.fixture(scope='module')
def drive():
    """Render an 8-frame synthetic drive at 96 x 64."""
    return render_sequence(WorldConfig(width=96, height=64, frames=FRAMES, seed=3))


@pytest.fixture(scope='module')
def odometry_root(drive, tmp_path_factory):
    """Write the drive as KITTI odometry sequence 09."""
    root = tmp_path_factory.mktemp('odometry')
    write_kitti_odometry(drive, root, 9)
    return root


def test_layout_and_camera_offset(drive, odometry_root):
    sequence = odometry_root / 'sequences' / '09'
    assert len(list((sequence / 'image_2').glob('*.png'))) == FRAMES
    assert len((sequence / 'times.txt').read_text().split()) == FRAMES
    # camera 2 sits CAMERA2_OFFSET left of camera 0: x in camera 2 = x in camera 0 + offset
    offset = camera_offset(sequence / 'calib.txt', 2)
    assert offset[:3, 3] == pytest.approx([CAMERA2_OFFSET, 0.0, 0.0], abs=1e-9)
    assert camera_offset(sequence / 'calib.txt', 0)[:3, 3] == pytest.approx([0, 0, 0], abs=1e-9)
    # camera 0's poses start at the identity, as the benchmark's files do
    assert read_poses(odometry_root / 'poses' / '09.txt')[0] == pytest.approx(np.eye(4), abs=1e-6)
    # the poses read back are camera 2's: its true motions, not camera 0's
    cam2 = camera_poses(odometry_root, '09')
    truth = relative_motions(drive.poses)
    assert relative_motions(cam2) == pytest.approx(truth, abs=1e-6)
    cam0 = read_poses(odometry_root / 'poses' / '09.txt')
    turned = np.abs(relative_motions(cam0) - truth).max()
    assert turned > 1e-5  # the offset matters where the car turns: the reader accounts for it


def test_pose_file_errors(tmp_path, odometry_root):
    bad = tmp_path / 'bad.txt'
    bad.write_text('1 0 0 0 0 1 0 0 0 0 1 0\n1 2 3\n')
    with pytest.raises(ValueError, match='bad.txt:2: a KITTI pose is 12 numbers'):
        read_poses(bad)
    with pytest.raises(FileNotFoundError, match='poses/11.txt is missing'):
        camera_poses(odometry_root, 11)
    with pytest.raises(FileExistsError):
        write_kitti_odometry(render_sequence(WorldConfig(width=32, height=16, frames=2)),
                             odometry_root, 9)


@pytest.mark.parametrize('pose_refinement', ['none', 'direct'])
def test_evaluation_matches_the_motions_computed_in_memory(drive, odometry_root, tiny_model,
                                                           pose_refinement):
    model = load_model(tiny_model).eval()
    # several batches, overlapping by one frame
    config = EvaluationConfig(batch=3, pose_refinement=pose_refinement)
    result, figure = evaluate_odometry_sequence(model, odometry_root, 9, config)
    motions = predict_motions(model, drive.images, FRAMES)
    if pose_refinement == 'direct':
        motions = refine_motions(motions, drive.images, predict_depth(model, drive.images),
                                 drive.k_norm, model.config.max_depth)
    expected = snippet_ate_summary(motions, relative_motions(drive.poses))
    snippet = result['pose']['snippet']
    assert snippet['snippets'] == FRAMES - 4
    assert snippet['ate_mean'] == pytest.approx(expected['ate_mean'], rel=1e-3, abs=1e-6)
    assert snippet['ate_std'] == pytest.approx(expected['ate_std'], rel=1e-3, abs=1e-6)
    assert result['pose']['trajectory']['frames'] == FRAMES
    assert figure.ndim == 3 and figure.shape[2] == 3


def test_images_and_poses_must_agree(drive, tmp_path, tiny_model):
    write_kitti_odometry(drive, tmp_path, 10)
    pose_file = tmp_path / 'poses' / '10.txt'
    pose_file.write_text(''.join(pose_file.read_text().splitlines(True)[:-1]))
    with pytest.raises(ValueError, match='8 images but 7 poses'):
        evaluate_odometry_sequence(load_model(tiny_model), tmp_path, '10')


def test_command_line_report_with_published_numbers(tmp_path, tiny_model, capsys):
    world = WorldConfig(width=96, height=64, frames=7, seed=5)
    run_synth(tmp_path / 'synth', world, formats=('kitti_odometry',), log=lambda _: None)
    root = tmp_path / 'synth' / 'day' / 'kitti_odometry'
    out = tmp_path / 'eval'
    assert load_script().main([str(tiny_model), '--out', str(out), '--kitti-odometry',
                               str(root), '--sequences', '09']) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / 'results.json').read_text())
    condition = results['conditions']['odometry 09']
    assert condition['pose']['snippet']['snippets'] == 3
    assert condition['benchmarks'] == ['kitti_odometry_09']
    assert '### Published: KITTI odometry sequence 09' in printed
    for method, _, values in BENCHMARKS['kitti_odometry_09'].rows:
        assert f"{values['ate_mean']:.4f} +- {values['ate_std']:.4f}" in printed
    assert '**this model**, odometry 09' in printed
    assert (out / 'trajectory_09.png').is_file()
    assert load_script().main([str(tiny_model), '--out', str(out), '--kitti-odometry',
                               str(root), '--sequences', 'nine']) == 2
    assert 'sequence numbers' in capsys.readouterr().err
