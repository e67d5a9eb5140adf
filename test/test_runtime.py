"""ONNX export, the CPU backends' parity with PyTorch fp32, and Perception's input handling."""

from dataclasses import replace
import hashlib
import json
import logging
import math
import os
from pathlib import Path
import shutil
import subprocess
import sys

import cv2
from defeat_ros.messages.image_encoding import to_rgb, UnsupportedEncoding
from defeat_ros.nets import load_model, ModelConfig, save_model
from defeat_ros.nets.rescale import rescale_model
from defeat_ros.runtime import onnx_export
from defeat_ros.runtime.onnx_export import check_onnx, export_onnx, file_digest, onnx_path
from defeat_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from defeat_ros.runtime.openvino_backend import OpenVinoBackend
from defeat_ros.runtime.perception import Perception
from defeat_ros.runtime.torch_backend import TorchBackend
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from untrained import untrained_model

CONFIG = ModelConfig(feature_dims=8, height=64, width=96, encoder_width=16)


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    directory = save_model(untrained_model(CONFIG), tmp_path_factory.mktemp('model') / 'model')
    export_onnx(directory)
    return directory


def test_exported_graphs_are_valid_with_static_shapes(model_dir):
    for graph, outputs in [('depth', [1, 1, 64, 96]), ('features', [1, 8, 64, 96]),
                           ('pose', [1, 6])]:
        proto = check_onnx(onnx_path(model_dir, graph), CONFIG, model_dir)
        assert proto.opset_import[0].version >= 17
        dims = [d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
        assert dims == outputs


def images(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, 64, 96, generator=gen), torch.rand(1, 3, 64, 96, generator=gen)


@pytest.mark.parametrize('make,depth_tol,cosine,pose_tol', [
    (lambda d: OnnxRuntimeBackend(d), 1e-4, 0.99999, 1e-5),
    (lambda d: TorchBackend(d, channels_last=True), 1e-4, 0.99999, 1e-5),
    (lambda d: TorchBackend(d, precision='bf16'), 0.05, 0.995, 1e-3),
    (lambda d: TorchBackend(d, precision='bf16', channels_last=True), 0.05, 0.995, 1e-3),
    (lambda d: OpenVinoBackend(d), 1e-4, 0.99999, 1e-5),
    (lambda d: OpenVinoBackend(d, precision='bf16'), 0.05, 0.995, 1e-3),
])
def test_cpu_backends_match_pytorch_fp32(model_dir, make, depth_tol, cosine, pose_tol):
    reference = TorchBackend(model_dir)
    backend = make(model_dir)
    a, b = images()
    depth = reference.depth(a)
    assert ((backend.depth(a) - depth).abs() / depth).max() < depth_tol
    similarity = F.cosine_similarity(backend.features(a), reference.features(a), dim=1)
    assert similarity.min() > cosine
    assert (backend.pose(a, b) - reference.pose(a, b)).abs().max() < pose_tol


QUARTER_TURN = [0.0, 0.0, math.pi / 2, 1.0, 2.0, 3.0]
"""A PoseNet output (axis-angle, translation): 90 degrees about z, then (1, 2, 3) m."""
QUARTER_TURN_MATRIX = [[0, -1, 0, 1], [1, 0, 0, 2], [0, 0, 1, 3], [0, 0, 0, 1]]
"""QUARTER_TURN as a 4 x 4 transform, by hand: x -> y, y -> -x, then the translation."""
QUARTER_TURN_INVERSE = [[0, 1, 0, -2], [-1, 0, 0, 1], [0, 0, 1, -3], [0, 0, 0, 1]]
"""Its inverse, by hand: rotation transposed, translation -R^T t = (-2, 1, -3)."""


def pose_model(directory, temporal_order=True, head=None):
    """
    Save a model whose PoseNet outputs are unscaled (pose_scale 1), so they are far apart.

    :param head: six values the PoseNet then outputs for any pair (its last layer's bias).
    """
    torch.manual_seed(2)
    net = untrained_model(replace(CONFIG, pose_scale=1.0, pose_temporal_order=temporal_order))
    if head is not None:
        with torch.no_grad():
            net.pose_net.decoder[-1].weight.zero_()
            net.pose_net.decoder[-1].bias.copy_(torch.tensor(head))
    return save_model(net, directory)


@pytest.mark.parametrize('temporal_order,expected', [(True, QUARTER_TURN_INVERSE),
                                                     (False, QUARTER_TURN_MATRIX)])
def test_pose_graph_of_a_known_posenet_output_is_the_known_transform(tmp_path, temporal_order,
                                                                     expected):
    """
    PoseNet(a, b) is T_b_a; the graph returns T_previous_current.

    In temporal order PoseNet sees (previous, current) and the graph must invert its output;
    otherwise it sees (current, previous), whose output is T_previous_current itself.
    """
    directory = pose_model(tmp_path / 'model', temporal_order, head=QUARTER_TURN)
    a, b = images(1)
    for backend in (OnnxRuntimeBackend(directory), TorchBackend(directory)):
        for previous, current in ((a, b), (b, a)):
            got = backend.pose(previous, current)[0]
            assert torch.allclose(got, torch.tensor(expected, dtype=torch.float32),
                                  atol=1e-5), (backend.name, got)


def test_openvino_keeps_its_compiled_graphs_for_the_next_start(model_dir):
    from defeat_ros.runtime.openvino_backend import CACHE_DIR
    OpenVinoBackend(model_dir, precision='bf16')
    assert any((model_dir / CACHE_DIR).iterdir())
    with pytest.raises(ValueError, match='precision must be one of'):
        OpenVinoBackend(model_dir, precision='fp16')


def test_python_signal_handlers_run_after_openvino_backends_are_released(model_dir):
    """
    Backends released in the order they were made leave the main thread's signal stack usable.

    In a child process: a broken signal stack kills it with SIGSEGV at the signal.
    """
    script = f"""
import gc, os, signal
from defeat_ros.runtime.openvino_backend import OpenVinoBackend
first = OpenVinoBackend({str(model_dir)!r})
second = OpenVinoBackend({str(model_dir)!r}, precision='bf16')
del first
gc.collect()
del second
gc.collect()
received = []
signal.signal(signal.SIGUSR1, lambda *_: received.append(True))
os.kill(os.getpid(), signal.SIGUSR1)
print('handled' if received else 'not handled')
"""
    child = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                           timeout=300)
    assert (child.returncode, child.stdout.strip()) == (0, 'handled'), child.stderr


def test_pose_graph_feeds_posenet_the_previous_frame_first_and_inverts(tmp_path):
    """With trained-like weights the graph is the inverse of PoseNet(previous, current)."""
    directory = pose_model(tmp_path / 'model')
    net = load_model(directory).eval()
    backend = OnnxRuntimeBackend(directory)
    a, b = images(1)
    poses = []
    for previous, current in ((a, b), (b, a)):
        with torch.no_grad():
            axis_angle, translation = net.pose_net(previous, current)  # T_current_previous
        t_current_previous = np.eye(4)
        t_current_previous[:3, :3] = cv2.Rodrigues(axis_angle[0].double().numpy())[0]
        t_current_previous[:3, 3] = translation[0].double().numpy()
        poses.append(backend.pose(previous, current)[0].double().numpy())
        np.testing.assert_allclose(poses[-1], np.linalg.inv(t_current_previous), atol=1e-4)
    assert np.abs(poses[0] - poses[1]).max() > 1e-3  # the order of the pair is visible


def test_wrong_input_size_is_a_clear_error(model_dir):
    for backend in (OnnxRuntimeBackend(model_dir), TorchBackend(model_dir)):
        with pytest.raises(ValueError, match='expects images of shape 1x3x64x96'):
            backend.depth(torch.rand(1, 3, 32, 96))


def test_missing_stale_or_corrupt_onnx_is_exported_again(tmp_path):
    directory = save_model(untrained_model(CONFIG), tmp_path / 'model')
    OnnxRuntimeBackend(directory)  # exports the missing files
    assert onnx_path(directory, 'depth').is_file()
    onnx_path(directory, 'features').write_bytes(b'not an onnx file')
    save_model(untrained_model(CONFIG), directory)  # new weights: every graph is stale
    backend = OnnxRuntimeBackend(directory)
    reference = TorchBackend(directory)
    a, _ = images()
    assert torch.allclose(backend.depth(a), reference.depth(a), rtol=1e-4)
    for graph in ('depth', 'features', 'pose'):
        check_onnx(onnx_path(directory, graph), CONFIG, directory)


def test_each_version_of_a_file_is_hashed_once(tmp_path):
    path = tmp_path / 'depth.onnx'
    path.write_bytes(b'first')
    hashed = onnx_export._digest_of_version.cache_info().misses
    assert file_digest(path) == hashlib.sha256(b'first').hexdigest()
    assert file_digest(tmp_path / '.' / 'depth.onnx') == hashlib.sha256(b'first').hexdigest()
    assert onnx_export._digest_of_version.cache_info().misses == hashed + 1
    # Replaced by a file of the same size, possibly within the same timestamp tick.
    (tmp_path / 'replacement').write_bytes(b'other')
    os.replace(tmp_path / 'replacement', path)
    assert file_digest(path) == hashlib.sha256(b'other').hexdigest()


def test_graph_of_an_earlier_format_is_exported_again(tmp_path, caplog):
    """A pose graph from before format 2 output a 4 x 4 matrix; it must not be read as motion."""
    import onnx
    directory = save_model(untrained_model(CONFIG), tmp_path / 'model')
    path = export_onnx(directory, graphs=('pose',))['pose']
    proto = onnx.load(str(path))
    old = [p for p in proto.metadata_props if p.key != 'graph_format']
    del proto.metadata_props[:]
    proto.metadata_props.extend(old)
    onnx.save(proto, str(path))
    with caplog.at_level(logging.WARNING):
        backend = OnnxRuntimeBackend(directory)
    assert "has graph format None, this version of defeat_ros reads format '2'" in caplog.text
    a, b = images()
    assert torch.allclose(backend.pose(a, b), TorchBackend(directory).pose(a, b), atol=1e-5)


def treat_as_read_only(directory, cache, monkeypatch):
    """
    Make derived_files see ``directory`` as read-only and use ``cache`` as the user cache.

    This process may still be able to write there (root is), so the writability check is told
    the truth a user account would see.
    """
    from defeat_ros.runtime import derived_files
    monkeypatch.setattr(derived_files.os, 'access',
                        lambda path, mode: not str(path).startswith(str(directory)))
    monkeypatch.setenv('XDG_CACHE_HOME', str(cache))


def test_a_read_only_model_directory_exports_to_the_user_cache(tmp_path, monkeypatch):
    """An installed package's share directory can be read-only: its ONNX files go to the cache."""
    from defeat_ros.runtime.engine_cache import engine_dir
    directory = save_model(untrained_model(CONFIG), tmp_path / 'share' / 'model')
    directory.chmod(0o555)
    treat_as_read_only(directory, tmp_path / 'cache', monkeypatch)
    try:
        backend = OnnxRuntimeBackend(directory)
    finally:
        directory.chmod(0o755)
    assert sorted(p.name for p in directory.iterdir()) == ['config.json', 'model.safetensors']
    cached = onnx_path(directory, 'depth')
    assert cached.parent.parent == tmp_path / 'cache' / 'defeat_ros' and cached.is_file()
    assert engine_dir(directory).parent == cached.parent
    a, _ = images()
    assert torch.allclose(backend.depth(a), TorchBackend(directory).depth(a), rtol=1e-4)
    other = save_model(untrained_model(CONFIG), tmp_path / 'elsewhere' / 'model')  # same name
    assert onnx_path(other, 'depth').parent == other  # writable: beside its weights


def test_a_read_only_model_directory_uses_its_current_onnx_files(model_dir, tmp_path,
                                                                 monkeypatch):
    """Exports installed beside the weights are used in place; stale ones go to the cache."""
    shipped = shutil.copytree(model_dir, tmp_path / 'share' / 'model')
    treat_as_read_only(shipped, tmp_path / 'cache', monkeypatch)
    a, _ = images()
    expected = TorchBackend(shipped).depth(a)
    assert torch.allclose(OnnxRuntimeBackend(shipped).depth(a), expected, rtol=1e-4)
    assert not (tmp_path / 'cache').exists()
    torch.manual_seed(1)
    save_model(untrained_model(CONFIG), shipped)  # other weights: the shipped exports are stale
    assert torch.allclose(OnnxRuntimeBackend(shipped).depth(a), TorchBackend(shipped).depth(a),
                          rtol=1e-4)
    assert (tmp_path / 'cache' / 'defeat_ros').is_dir() and onnx_path(shipped, 'depth').is_file()


def test_onnx_for_another_resolution_is_rejected(tmp_path):
    small = save_model(untrained_model(CONFIG), tmp_path / 'small')
    export_onnx(small, graphs=('depth',))
    other = ModelConfig(feature_dims=8, height=96, width=128)
    with pytest.raises(ValueError, match='expects \\[1, 3, 96, 128\\]'):
        check_onnx(onnx_path(small, 'depth'), other)
    with pytest.raises(ValueError, match='not a valid ONNX model'):
        bad = tmp_path / 'bad.onnx'
        bad.write_bytes(b'\x08\x07junk that is not protobuf')
        check_onnx(bad, CONFIG)


def test_a_model_with_nan_weights_is_refused(tmp_path):
    net = untrained_model(CONFIG)
    with torch.no_grad():
        net.depth_net.decoder.heads['0'][1].weight[0, 0, 0, 0] = float('nan')
    directory = save_model(net, tmp_path / 'nan')
    with pytest.raises(ValueError, match='NaN or infinite'):
        Perception(directory, backend='pytorch')


def test_encodings_convert_to_the_same_rgb():
    rgb = np.random.default_rng(0).integers(0, 255, (6, 8, 3), dtype=np.uint8)
    assert np.array_equal(to_rgb(rgb[..., ::-1].copy(), 'bgr8'), rgb)
    rgba = np.concatenate([rgb, np.full((6, 8, 1), 255, np.uint8)], axis=2)
    assert np.array_equal(to_rgb(rgba, 'rgba8'), rgb)
    grey = to_rgb(rgb[..., 0].copy(), 'mono8')
    assert np.array_equal(grey[..., 1], rgb[..., 0])
    bayer = np.zeros((6, 8), np.uint8)
    bayer[0::2, 0::2] = 200  # red sites of an RGGB mosaic
    assert to_rgb(bayer, 'bayer_rggb8')[2:4, 2:4, 0].mean() > 100
    with pytest.raises(UnsupportedEncoding, match='8UC2'):
        to_rgb(rgb, '8UC2')
    with pytest.raises(ValueError, match='shape'):
        to_rgb(rgb, 'mono8')
    with pytest.raises(ValueError, match='uint8'):
        to_rgb(rgb.astype(np.float32), 'rgb8')


def test_perception_resizes_converts_and_chains_pose(model_dir):
    perception = Perception(model_dir, backend='onnxruntime')
    rgb = np.random.default_rng(1).integers(0, 255, (120, 200, 3), dtype=np.uint8)
    first = perception(rgb, 'rgb8', output_size=(120, 200))
    assert first.depth.shape == (120, 200) and first.features.shape == (8, 120, 200)
    assert first.transform is None
    assert np.isfinite(first.depth).all() and first.depth.min() >= CONFIG.min_depth - 1e-4
    same = perception(rgb[..., ::-1].copy(), 'bgr8', output_size=(120, 200))
    assert np.allclose(same.depth, first.depth, rtol=1e-5)
    assert same.transform.shape == (4, 4)
    at_model = perception(rgb, features=False)
    assert at_model.depth.shape == (64, 96) and at_model.features is None
    perception.reset()
    assert perception(rgb).transform is None
    k = perception.intrinsics([[0.5, 0, 0.5], [0, 1.0, 0.5], [0, 0, 1]], (120, 200))
    assert np.allclose(k[0], [100.0, 0.0, 100.0]) and np.allclose(k[1], [0.0, 120.0, 60.0])


@pytest.mark.parametrize('fastest', ['onnxruntime', 'pytorch-cpu-fp32', 'pytorch-cpu-bf16-cl',
                                     'onnxruntime-int8-concurrent', 'openvino-int8'])
def test_auto_backend_picks_the_fastest_measured_cpu_backend_once(model_dir, tmp_path,
                                                                  monkeypatch, fastest):
    """Each CPU candidate is timed once, the quickest wins, and later starts reuse the choice."""
    from defeat_ros.runtime import backends
    from defeat_ros.runtime.quantise import quantise_onnx
    directory = Path(shutil.copytree(model_dir, tmp_path / 'model'))
    for int8_format in ('qoperator', 'openvino'):
        quantise_onnx(directory, [images()[0], images(1)[0]], int8_format=int8_format)
    timed = []

    def time_step(backend):
        timed.append(backend.name)
        return 0.001 if backend.name == fastest else 0.5

    monkeypatch.setattr(backends, 'cpu_has_bf16', lambda: True)
    monkeypatch.setattr(backends, 'time_step', time_step)
    perception = Perception(directory, device='cpu')
    assert perception.backend.name == fastest
    assert sorted(timed) == ['onnxruntime', 'onnxruntime-int8', 'onnxruntime-int8-concurrent',
                             'openvino-bf16', 'openvino-fp32', 'openvino-int8',
                             'pytorch-cpu-bf16-cl', 'pytorch-cpu-fp32']
    a, _ = images()
    assert torch.allclose(perception.backend.depth(a), TorchBackend(directory).depth(a),
                          rtol=0.05)
    timed.clear()
    assert Perception(directory, device='cpu').backend.name == fastest
    assert timed == []  # remembered: nothing timed, one backend opened
    Perception(directory, device='cpu', threads=1)
    assert len(timed) == 8  # another thread count is another choice
    save_model(untrained_model(CONFIG), directory)  # new weights: measured again
    timed.clear()
    Perception(directory, device='cpu')
    # ... without the int8 graphs, which were quantised from the old weights
    assert sorted(timed) == ['onnxruntime', 'openvino-bf16', 'openvino-fp32',
                             'pytorch-cpu-bf16-cl', 'pytorch-cpu-fp32']


def test_a_corrupt_remembered_choice_is_measured_again(model_dir, tmp_path, monkeypatch):
    from defeat_ros.runtime import backends
    from defeat_ros.runtime.backend_choice import FILE
    monkeypatch.setattr(backends, 'cpu_has_bf16', lambda: False)
    monkeypatch.setattr(backends, 'time_step', lambda backend: len(backend.name))
    directory = Path(shutil.copytree(model_dir, tmp_path / 'model'))
    (directory / FILE).write_text('{"not json')
    assert Perception(directory, device='cpu').backend.name == 'onnxruntime'
    stored = json.loads((directory / FILE).read_text())
    assert [entry['backend'] for entry in stored.values()] == ['onnxruntime-fp32']


def test_auto_backend_without_int8_graphs_leaves_int8_out(model_dir, tmp_path, monkeypatch):
    from defeat_ros.runtime import backends
    monkeypatch.setattr(backends, 'cpu_has_bf16', lambda: False)
    directory = shutil.copytree(model_dir, tmp_path / 'model')
    assert list(backends.cpu_candidates(directory)) == ['onnxruntime-fp32', 'pytorch-fp32',
                                                        'openvino-fp32']


def test_auto_backend_without_openvino_leaves_it_out(model_dir, monkeypatch):
    from defeat_ros.runtime import backends
    monkeypatch.setattr(backends.importlib.util, 'find_spec',
                        lambda name: None if name == 'openvino' else object())
    assert not [name for name in backends.cpu_candidates(model_dir) if 'openvino' in name]


def test_a_process_running_onnx_runtime_leaves_the_cpu_to_it(model_dir):
    from defeat_ros.runtime.backends import leave_cpu_to_backend
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        leave_cpu_to_backend(TorchBackend(model_dir))  # PyTorch infers: keeps its threads
        assert torch.get_num_threads() == 2
        leave_cpu_to_backend(OnnxRuntimeBackend(model_dir))
        assert torch.get_num_threads() == 1
        torch.set_num_threads(2)
        leave_cpu_to_backend(OpenVinoBackend(model_dir))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


def test_unknown_backend_is_rejected_with_the_choices(model_dir):
    with pytest.raises(ValueError) as error:
        Perception(model_dir, backend='tflite')
    assert str(error.value) == ("backend must be one of ('auto', 'onnxruntime', 'openvino', "
                                "'pytorch', 'tensorrt'), got 'tflite'")


def test_cuda_graphs_replay_matches_eager(model_dir):
    if not torch.cuda.is_available():
        pytest.skip('CUDA graphs need a CUDA GPU; this machine has none')
    eager = TorchBackend(model_dir, device='cuda', precision='fp16')
    graphed = TorchBackend(model_dir, device='cuda', precision='fp16', cuda_graphs=True)
    a, b = images()
    for _ in range(2):  # capture, then replay with new inputs
        assert torch.allclose(graphed.depth(a), eager.depth(a), rtol=1e-3)
        assert torch.allclose(graphed.pose(a, b), eager.pose(a, b), atol=1e-4)
        for features in (True, False):  # a whole step is one graph, pose on its own stream
            got, expected = graphed.step(b, a, features), eager.step(b, a, features)
            assert torch.allclose(got[0], expected[0], rtol=1e-3)
            assert (got[1] is None) == (not features)
            assert not features or torch.allclose(got[1], expected[1], atol=1e-3)
            assert torch.allclose(got[2], expected[2], atol=1e-4)
        a, b = b, a


def test_cuda_graphs_and_fp16_are_refused_on_the_cpu(model_dir):
    with pytest.raises(ValueError, match='CUDA graphs need a CUDA device'):
        TorchBackend(model_dir, cuda_graphs=True)
    with pytest.raises(ValueError, match='fp16 needs a CUDA device'):
        TorchBackend(model_dir, precision='fp16')


def test_perception_says_where_its_metres_come_from(tmp_path):
    arbitrary = save_model(untrained_model(CONFIG), tmp_path / 'arbitrary')
    metric = save_model(untrained_model(replace(CONFIG, metric_scale='velocity')),
                        tmp_path / 'metric')
    assert Perception(arbitrary, 'pytorch').metric_source == ''
    assert Perception(arbitrary, 'pytorch', 'camera_height').metric_source == 'camera height'
    perception = Perception(metric, 'pytorch')
    assert perception.metric_source == 'velocity'
    perception.swap_model(arbitrary)  # the scale's source is not part of the architecture
    assert perception.metric_source == ''
    # nor is the unit of depth: online fine-tuning rescales a model of arbitrary scale
    rescaled = rescale_model(load_model(arbitrary), 7.0)
    rescaled.config = replace(rescaled.config, metric_scale='camera_height')
    perception.swap_model(save_model(rescaled, tmp_path / 'rescaled'))
    assert perception.metric_source == 'camera_height' and perception.config.max_depth == 700.0
    with pytest.raises(ValueError, match=r"differs from the running model in \['width'\]"):
        perception.swap_model(save_model(untrained_model(replace(CONFIG, width=CONFIG.width + 32)),
                                         tmp_path / 'wider'))
    with pytest.raises(ValueError, match='metric_scale'):
        replace(CONFIG, metric_scale='lidar')


def test_a_camera_with_another_vertical_focal_length_gets_its_depth_scaled_to_match(tmp_path):
    torch.manual_seed(0)
    model = untrained_model(replace(CONFIG, camera_focal_y=1.92))
    with torch.no_grad():  # a PoseNet that moves, so that its translation can be compared
        model.pose_net.decoder[-1].bias.copy_(torch.tensor([0.0, 0.0, 0.0, 0.1, -0.2, 0.3]))
    directory = save_model(model, tmp_path / 'model')
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 255, (64, 96, 3), dtype=np.uint8) for _ in range(2)]

    def step(k_norm):
        perception = Perception(directory, 'pytorch', pose_refinement='none')
        perception(frames[0], k_norm=k_norm)
        return perception(frames[1], k_norm=k_norm)

    def camera(fy):
        return [[0.58, 0.0, 0.5], [0.0, fy, 0.5], [0.0, 0.0, 1.0]]

    trained, wide, unknown = step(camera(1.92)), step(camera(0.96)), step(None)
    assert np.allclose(unknown.depth, trained.depth)
    # Half the training camera's fy / H: the road is twice as near as the network reads it.
    assert np.allclose(wide.depth, 0.5 * trained.depth, rtol=1e-5)
    # PoseNet's own pose is left alone (the alignment takes its length from the depth).
    assert np.linalg.norm(trained.transform[:3, 3]) > 1e-3
    assert np.allclose(wide.transform, trained.transform)
    # A model that does not record its training camera is left alone.
    plain = save_model(untrained_model(CONFIG), tmp_path / 'plain')
    assert Perception(plain, 'pytorch').focal_ratio(camera(0.96)) == 1.0
    with pytest.raises(ValueError, match='camera_focal_y'):
        replace(CONFIG, camera_focal_y=-1.0)
