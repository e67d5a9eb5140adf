"""
GPU code paths checked on the CPU: what CUDA-graph capture forbids, and pose maths in fp16.

No machine running the suite needs a GPU. The code CUDA graphs capture (``TorchBackend.forward``
of every graph, and the composition of the pose graph's motion) runs under a dispatch mode that
records every tensor built from host data (``new_tensor``, ``torch.tensor``, ``from_numpy``: a
host-to-device copy on a GPU) and every device value read on the host (``.item()``); stream
capture forbids both; stand-ins for torch.cuda's streams record which stream each network of a
captured camera step runs on. fp16 engines are emulated by PyTorch half precision on the CPU.
"""

import contextlib
from dataclasses import replace
import types

from defeat_ros.nets import ModelConfig, save_model
from defeat_ros.runtime.export_graphs import graph_modules
from defeat_ros.runtime.graph_backend import GRAPHS, pose_from_motion
from defeat_ros.runtime.onnx_export import export_onnx
from defeat_ros.runtime.onnxruntime_backend import make_session
from defeat_ros.runtime.torch_backend import TorchBackend
import numpy as np
import onnx
from onnx import numpy_helper
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from untrained import untrained_model

CONFIG = ModelConfig(feature_dims=8, height=64, width=128, encoder_width=16)
CONFIGS = {
    'defeat': CONFIG,
    'mean_inverse_depth': replace(CONFIG, translation_scaling='mean_inverse_depth',
                                  pose_temporal_order=False),
    'every_cpu_option': replace(CONFIG, shared_encoder=True, feature_stride=2,
                                pose_stride=2, decoder='fast'),
}
HOST_OPERATIONS = {'aten.lift_fresh.default': 'a tensor built from host data',
                   'aten._local_scalar_dense.default': 'a device value read on the host'}
FP16_SMALLEST_NORMAL = float(np.finfo(np.float16).tiny)


class HostTraffic(TorchDispatchMode):
    """Record the operations that move data between host and device (HOST_OPERATIONS)."""

    def __init__(self):
        super().__init__()
        self.found = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if str(func) in HOST_OPERATIONS:
            self.found.append(HOST_OPERATIONS[str(func)])
        return func(*args, **(kwargs or {}))


def test_the_host_traffic_check_sees_host_copies_and_reads():
    zeros = torch.zeros(1, 3)
    with HostTraffic() as traffic:
        zeros.new_tensor([0.0, 0.0, 0.0, 1.0])
        zeros.sum().item()
        torch.eye(3, device=zeros.device) * 2.0
    assert traffic.found == list(HOST_OPERATIONS.values())


@pytest.fixture(scope='module', params=sorted(CONFIGS))
def model_dir(request, tmp_path_factory):
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp(request.param) / 'model'
    return save_model(untrained_model(CONFIGS[request.param]), directory)


@pytest.mark.parametrize('precision', ['fp32', 'bf16'])
def test_captured_computation_moves_nothing_between_host_and_device(model_dir, precision):
    backend = TorchBackend(model_dir, precision=precision)
    image, other = torch.rand(1, 3, 64, 128), torch.rand(1, 3, 64, 128)
    with torch.inference_mode(), HostTraffic() as traffic:
        for graph in GRAPHS:
            outputs = backend.forward(graph, [image] if graph != 'pose' else [other, image])
        pose_from_motion(outputs[0], backend.config)
    assert traffic.found == []


def test_pose_graph_leaves_the_rotation_maths_out(model_dir):
    """No sine, cosine or square root in the pose graph: an fp16 engine cannot run them."""
    path = export_onnx(model_dir, graphs=('pose',))['pose']
    operators = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert not operators & {'Sin', 'Cos', 'Sqrt', 'MatMul'}, operators


def test_no_graph_holds_a_constant_that_vanishes_in_fp16(model_dir):
    """Scalars below fp16's smallest normal number (e.g. 1e-12) are zero in an fp16 engine."""
    for graph, path in export_onnx(model_dir).items():
        proto = onnx.load(str(path))
        scalars = [numpy_helper.to_array(t) for t in proto.graph.initializer]
        scalars += [numpy_helper.to_array(a.t) for node in proto.graph.node
                    if node.op_type == 'Constant' for a in node.attribute]
        vanishing = [float(v) for array in scalars if array.size <= 4 and array.dtype.kind == 'f'
                     for v in array.ravel() if 0 < abs(v) < FP16_SMALLEST_NORMAL]
        assert vanishing == [], (graph, vanishing)


def half_pose(model, previous, current):
    """Run the pose graph in fp16 (PyTorch half on the CPU); compose it as backends do."""
    graph = graph_modules(model.half())['pose']
    with torch.no_grad():
        motion = graph(previous.half(), current.half())
    assert motion.dtype == torch.float32  # the graph's output leaves fp16
    return pose_from_motion(motion, model.config)


def test_pose_of_identical_frames_is_the_identity_in_fp16():
    """A PoseNet that sees no motion gives exactly zero motion: the pose must be the identity."""
    torch.manual_seed(0)
    model = untrained_model(CONFIG).eval()
    with torch.no_grad():
        model.pose_net.decoder[-1].weight.zero_()
        model.pose_net.decoder[-1].bias.zero_()
    frame = torch.rand(1, 3, 64, 128)
    assert torch.equal(half_pose(model, frame, frame), torch.eye(4)[None])


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_pose_in_fp16_matches_fp32(name):
    torch.manual_seed(0)
    model = untrained_model(CONFIGS[name]).eval()
    frame, other = torch.rand(1, 3, 64, 128), torch.rand(1, 3, 64, 128)
    for previous, current in ((frame, frame), (frame, other)):
        with torch.no_grad():
            expected = pose_from_motion(graph_modules(model)['pose'](previous, current),
                                        model.config)
        got = half_pose(copy_of(model), previous, current)
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got, expected, atol=2e-3, rtol=0)


def copy_of(model):
    """Return a fresh model with the same weights (``half_pose`` converts in place)."""
    twin = untrained_model(model.config).eval()
    twin.load_state_dict(model.state_dict())
    return twin


def test_capture_runs_on_the_backends_device_with_no_host_traffic(model_dir, monkeypatch):
    """Run the capture code of TorchBackend under CPU stand-ins for torch.cuda."""
    backend = TorchBackend(model_dir)
    backend.captured = {}  # what cuda_graphs=True sets on a CUDA device
    events = []

    @contextlib.contextmanager
    def capture(graph):
        with HostTraffic() as traffic:
            yield
        events.append(('captured', traffic.found))

    def device(which):
        events.append(('device', which))
        return contextlib.nullcontext()

    stream = types.SimpleNamespace(wait_stream=lambda other: None)
    monkeypatch.setattr(torch.cuda, 'CUDAGraph',
                        lambda: types.SimpleNamespace(replay=lambda: events.append('replay')))
    monkeypatch.setattr(torch.cuda, 'graph', capture)
    monkeypatch.setattr(torch.cuda, 'Stream', lambda *args: stream)
    monkeypatch.setattr(torch.cuda, 'current_stream', lambda *args: stream)
    monkeypatch.setattr(torch.cuda, 'stream', lambda which: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, 'device', device)
    previous, current = torch.rand(1, 3, 64, 128), torch.rand(1, 3, 64, 128)
    pose = backend.pose(previous, current)
    assert events == [('device', backend.device), ('captured', []), 'replay']
    torch.testing.assert_close(pose, TorchBackend(model_dir).pose(previous, current))


class StandInStreams:
    """CPU stand-ins for torch.cuda's streams and graph capture that record what runs where."""

    def __init__(self, monkeypatch, backend):
        self.events, self.current, self.made = [], ['default'], iter(['side', 'pose'])
        forward = backend.forward

        def recording(graph, inputs):
            self.events.append(('run', graph, self.current[-1]))
            return forward(graph, inputs)

        monkeypatch.setattr(backend, 'forward', recording)
        monkeypatch.setattr(torch.cuda, 'CUDAGraph', lambda: types.SimpleNamespace(
            replay=lambda: self.events.append('replay')))
        monkeypatch.setattr(torch.cuda, 'graph', lambda graph: self.on('capture', True))
        monkeypatch.setattr(torch.cuda, 'Stream', lambda *args: self.stream(next(self.made)))
        monkeypatch.setattr(torch.cuda, 'current_stream',
                            lambda *args: self.stream(self.current[-1]))
        monkeypatch.setattr(torch.cuda, 'stream', lambda which: self.on(which.name))
        monkeypatch.setattr(torch.cuda, 'device', lambda which: contextlib.nullcontext())

    def stream(self, name):
        """Return a stand-in stream ``name`` whose waits record ('wait', waiting, waited for)."""
        return types.SimpleNamespace(name=name, wait_stream=lambda other: self.events.append(
            ('wait', name, other.name)))

    @contextlib.contextmanager
    def on(self, name, capture=False):
        """Make ``name`` the current stream; a capture also records its host traffic."""
        self.current.append(name)
        with HostTraffic() as traffic:
            yield
        self.current.pop()
        if capture:
            self.events.append(('captured', traffic.found))


def test_a_camera_step_is_one_graph_with_the_pose_on_a_stream_of_its_own(model_dir,
                                                                         monkeypatch):
    """Capture a whole step under CPU stand-ins: pose forked off and joined back, no host copy."""
    backend = TorchBackend(model_dir)
    backend.captured = {}  # what cuda_graphs=True sets on a CUDA device
    streams = StandInStreams(monkeypatch, backend)
    previous, current = torch.rand(1, 3, 64, 128), torch.rand(1, 3, 64, 128)
    depth, features, pose = backend.step(current, previous)
    step = [('wait', 'pose', 'STREAM'), ('run', 'pose', 'pose'),
            ('run', 'depth_features', 'STREAM'), ('wait', 'STREAM', 'pose')]
    warm_up = [('run', 'step_depth_features', 'side')] + [
        tuple(part.replace('STREAM', 'side') for part in event) for event in step]
    captured = [('run', 'step_depth_features', 'capture')] + [
        tuple(part.replace('STREAM', 'capture') for part in event) for event in step]
    assert streams.events == ([('wait', 'side', 'default')] + 3 * warm_up
                              + [('wait', 'default', 'side')] + captured
                              + [('captured', []), 'replay'])
    eager = TorchBackend(model_dir).step(current, previous)
    for got, expected in zip((depth, features, pose), eager):
        torch.testing.assert_close(got, expected)


def test_fp16_graphs_in_onnx_runtime_match_fp32(model_dir):
    """The fp16 exports (strongly typed TensorRT's input) run in ONNX Runtime on the CPU."""
    reference = TorchBackend(model_dir)
    frame, other = torch.rand(1, 3, 64, 128), torch.rand(1, 3, 64, 128)
    paths = export_onnx(model_dir, precision='fp16')
    for graph, path in paths.items():
        session = make_session(path)
        feeds = ([frame] if graph != 'pose' else [other, frame])
        got = session.run(None, {i.name: x.half().numpy()
                                 for i, x in zip(session.get_inputs(), feeds)})
        for output, expected in zip(got, reference.run(graph, *feeds)):
            assert np.isfinite(output).all()
            scale = expected.abs().max().item()
            assert np.abs(output.astype(np.float32) - expected.numpy()).max() < 1e-2 * scale
    session = make_session(paths['pose'])
    motion = session.run(None, {'previous': frame.half().numpy(), 'current': frame.half().numpy()})
    assert motion[0].dtype == np.float32  # the motion leaves the graph in fp32
    still = pose_from_motion(torch.from_numpy(motion[0]), reference.config)
    torch.testing.assert_close(still, reference.pose(frame, frame), atol=2e-3, rtol=0)
