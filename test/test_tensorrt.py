"""
TensorRT path: engine keys and cache, calibration feed, availability, and engine parity.

The cache, key, calibration-feed and availability tests run everywhere. Tests that build and
run engines need TensorRT 10 and a CUDA GPU; elsewhere they are skipped with the reason
``tensorrt_available()`` gives.
"""

import json
import logging
import sys
import types

from defeat_ros.nets import DeFeatNet, ModelConfig, save_model
from defeat_ros.runtime import tensorrt_engine
from defeat_ros.runtime.engine_cache import (cached_engine, calibration_cache_file, engine_dir,
                                             engine_file, engine_key, engine_spec, EngineSpec,
                                             Platform, sidecar_file, store_engine,
                                             timing_cache_file)
from defeat_ros.runtime.export_graphs import GRAPHS
from defeat_ros.runtime.onnx_export import export_onnx, onnx_path
from defeat_ros.runtime.tensorrt_build import build_engine, CalibrationFeed, check_build_options
from defeat_ros.runtime.tensorrt_engine import tensorrt_available, TensorRTBackend
from defeat_ros.runtime.torch_backend import TorchBackend
import pytest
import torch
import torch.nn.functional as F

KEY_FIELDS = {'gpu_name': 'Orin', 'compute_capability': '8.7', 'tensorrt_version': '10.3.0',
              'onnx_sha256': 'ab' * 32, 'precision': 'fp16'}
PLATFORM = Platform('NVIDIA GeForce RTX 4090', '8.9', '10.3.0')
SHAPE = (1, 3, 4, 6)


def test_engine_key_is_short_and_stable():
    # A golden value: changing the key function silently orphans every deployed engine cache.
    assert engine_key(**KEY_FIELDS) == 'fp16-8a9e2505bb7aee0c'
    assert EngineSpec(**KEY_FIELDS).key == engine_key(**KEY_FIELDS)
    assert engine_key(**KEY_FIELDS, dla_core=None) == engine_key(**KEY_FIELDS)


@pytest.mark.parametrize('field,value', [
    ('gpu_name', 'NVIDIA GeForce RTX 4090'), ('compute_capability', '8.9'),
    ('tensorrt_version', '10.3.1'), ('onnx_sha256', 'cd' * 32), ('precision', 'int8'),
    ('dla_core', 0)])
def test_engine_key_changes_with_every_field(field, value):
    assert engine_key(**{**KEY_FIELDS, field: value}) != engine_key(**KEY_FIELDS)


def test_timing_and_calibration_caches_are_keyed_by_what_they_depend_on(tmp_path):
    other_gpu = PLATFORM._replace(gpu_name='Orin', compute_capability='8.7')
    assert timing_cache_file(tmp_path, PLATFORM) == timing_cache_file(tmp_path, PLATFORM)
    assert timing_cache_file(tmp_path, PLATFORM) != timing_cache_file(tmp_path, other_gpu)
    assert (calibration_cache_file(tmp_path, 'depth', 'ab' * 32)
            != calibration_cache_file(tmp_path, 'depth', 'cd' * 32))


@pytest.fixture
def model_dir(tmp_path):
    """Return a model directory holding a stand-in depth.onnx (the cache only hashes it)."""
    onnx_path(tmp_path, 'depth').write_bytes(b'depth graph, exported today')
    return tmp_path


def spec_for(model_dir, precision='fp16', platform=PLATFORM):
    return engine_spec(onnx_path(model_dir, 'depth'), precision, platform)


def test_matching_engine_is_loaded(model_dir, caplog):
    spec = spec_for(model_dir)
    path = store_engine(model_dir, 'depth', spec, b'serialized engine')
    assert path == engine_file(model_dir, 'depth', spec) and path.parent == engine_dir(model_dir)
    sidecar = json.loads(sidecar_file(path).read_text())
    assert {k: sidecar[k] for k in KEY_FIELDS} == {
        'gpu_name': PLATFORM.gpu_name, 'compute_capability': '8.9', 'tensorrt_version': '10.3.0',
        'onnx_sha256': spec.onnx_sha256, 'precision': 'fp16'}
    with caplog.at_level(logging.INFO):
        assert cached_engine(model_dir, 'depth', spec) == b'serialized engine'
    assert 'loading the cached TensorRT engine' in caplog.text


def test_no_cache_yet_means_build(model_dir, caplog):
    with caplog.at_level(logging.INFO):
        assert cached_engine(model_dir, 'depth', spec_for(model_dir)) is None
    assert 'no cached TensorRT engine for depth' in caplog.text


OTHER_BUILDS = {
    'gpu_name': {'platform': PLATFORM._replace(gpu_name='Orin', compute_capability='8.7')},
    'tensorrt_version': {'platform': PLATFORM._replace(tensorrt_version='10.8.0')},
    'precision': {'precision': 'fp32'},
    'onnx_sha256': {'onnx': b'depth graph, exported before retraining'},
}


@pytest.mark.parametrize('field', sorted(OTHER_BUILDS))
def test_engine_built_for_something_else_is_not_loaded(model_dir, caplog, field):
    build = dict(OTHER_BUILDS[field])
    onnx = onnx_path(model_dir, 'depth')
    today = onnx.read_bytes()
    onnx.write_bytes(build.pop('onnx', today))
    store_engine(model_dir, 'depth', spec_for(model_dir, **build), b'engine for elsewhere')
    onnx.write_bytes(today)
    with caplog.at_level(logging.INFO):
        assert cached_engine(model_dir, 'depth', spec_for(model_dir)) is None
    assert 'not loading the cached TensorRT engine' in caplog.text
    assert f'{field}: built for' in caplog.text
    # Both entries live side by side (e.g. a model directory shared by two machines).
    store_engine(model_dir, 'depth', spec_for(model_dir), b'engine for here')
    assert cached_engine(model_dir, 'depth', spec_for(model_dir)) == b'engine for here'
    assert len(list(engine_dir(model_dir).glob('depth-*.engine'))) == 2


def test_sidecar_that_disagrees_with_its_name_is_not_loaded(model_dir, caplog):
    spec = spec_for(model_dir)
    path = store_engine(model_dir, 'depth', spec, b'serialized engine')
    sidecar = json.loads(sidecar_file(path).read_text())
    sidecar['gpu_name'] = 'Orin'
    sidecar_file(path).write_text(json.dumps(sidecar))
    with caplog.at_level(logging.INFO):
        assert cached_engine(model_dir, 'depth', spec) is None
    assert "gpu_name: built for 'Orin'" in caplog.text


@pytest.mark.parametrize('text', ['{"format": "defeat_ros.engine/1", "gpu_', '', '[]',
                                  '{"format": "defeat_ros.engine/1"}', '{"format": "other/1"}'])
def test_corrupt_sidecar_means_rebuild(model_dir, caplog, text):
    spec = spec_for(model_dir)
    path = store_engine(model_dir, 'depth', spec, b'serialized engine')
    sidecar_file(path).write_text(text)
    with caplog.at_level(logging.INFO):
        assert cached_engine(model_dir, 'depth', spec) is None
    assert 'unreadable or corrupt' in caplog.text and 'rebuilding' in caplog.text
    store_engine(model_dir, 'depth', spec, b'rebuilt engine')
    assert cached_engine(model_dir, 'depth', spec) == b'rebuilt engine'


def test_altered_or_missing_engine_file_means_rebuild(model_dir, caplog):
    spec = spec_for(model_dir)
    path = store_engine(model_dir, 'depth', spec, b'serialized engine')
    path.write_bytes(b'serialized')
    with caplog.at_level(logging.INFO):
        assert cached_engine(model_dir, 'depth', spec) is None
    assert 'does not match the digest' in caplog.text
    path.unlink()
    with caplog.at_level(logging.INFO):
        assert cached_engine(model_dir, 'depth', spec) is None
    assert 'engine file unreadable' in caplog.text


def test_unwritable_cache_is_a_warning_not_an_error(model_dir, caplog):
    engine_dir(model_dir).write_text('a file where the cache directory should be')
    spec = spec_for(model_dir)
    with caplog.at_level(logging.INFO):
        assert store_engine(model_dir, 'depth', spec, b'serialized engine') is None
        assert cached_engine(model_dir, 'depth', spec) is None
    assert 'could not cache the TensorRT engine' in caplog.text


def frames(count, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand(SHAPE, generator=gen) for _ in range(count)]


def test_calibration_feed_gives_a_one_input_graph_every_frame():
    data = frames(3)
    feed = CalibrationFeed({'image': SHAPE}, data, None, 'cpu')
    for frame in data:
        assert feed.next_pointers(['image']) == [feed.buffers['image'].data_ptr()]
        assert torch.equal(feed.buffers['image'], frame)
    assert feed.next_pointers(['image']) is None
    assert feed.error == '' and feed.batches == 3


def test_calibration_feed_gives_the_pose_graph_consecutive_pairs():
    data = frames(3)
    feed = CalibrationFeed({'previous': SHAPE, 'current': SHAPE}, data, None, 'cpu')
    for before, after in zip(data, data[1:]):
        # Pointers come back in the order TensorRT names the inputs, whatever it is.
        assert feed.next_pointers(['current', 'previous']) == [
            feed.buffers['current'].data_ptr(), feed.buffers['previous'].data_ptr()]
        assert torch.equal(feed.buffers['previous'], before)
        assert torch.equal(feed.buffers['current'], after)
    assert feed.next_pointers(['previous', 'current']) is None
    assert feed.error == '' and feed.batches == 2


@pytest.mark.parametrize('frame,message', [
    (torch.rand(1, 3, 8, 6), 'shape (1, 3, 8, 6)'),
    (torch.rand(SHAPE) * 255, 'must be RGB in [0, 1]'),
    (torch.zeros(SHAPE, dtype=torch.uint8), 'torch.uint8'),
])
def test_calibration_feed_stops_at_an_unusable_frame_and_says_why(frame, message):
    feed = CalibrationFeed({'image': SHAPE}, frames(1) + [frame], None, 'cpu')
    assert feed.next_pointers(['image']) is not None
    assert feed.next_pointers(['image']) is None
    assert message in feed.error and 'frame 1' in feed.error


def test_calibration_feed_without_frames_reports_it():
    feed = CalibrationFeed({'image': SHAPE}, None, None, 'cpu')
    assert feed.next_pointers(['image']) is None
    assert 'no calibration frames' in feed.error


def test_calibration_cache_round_trip(tmp_path):
    feed = CalibrationFeed({'image': SHAPE}, None, tmp_path / 'engines' / 'x.calibration', 'cpu')
    assert feed.read_cache() is None
    feed.write_cache(memoryview(b'TRT-10 EntropyCalibration2 scales'))
    assert feed.read_cache() == b'TRT-10 EntropyCalibration2 scales'
    assert CalibrationFeed({'image': SHAPE}, None, None, 'cpu').read_cache() is None


def test_build_options_are_checked_before_tensorrt_is_needed(tmp_path):
    onnx = tmp_path / 'depth.onnx'
    with pytest.raises(ValueError, match='precision must be one of'):
        build_engine(onnx, precision='int4')
    with pytest.raises(ValueError, match='int8 needs calibration'):
        build_engine(onnx, precision='int8', calibration_cache_path=tmp_path / 'none')
    with pytest.raises(ValueError, match='DLA runs fp16 or int8 only'):
        build_engine(onnx, precision='fp32', dla_core=0)
    cache = tmp_path / 'depth.calibration'
    cache.write_bytes(b'scales')
    check_build_options('int8', None, cache, None)  # a calibration cache alone is enough


def test_backend_options_are_checked_first(tmp_path):
    with pytest.raises(ValueError, match='precision must be one of'):
        TensorRTBackend(tmp_path, precision='bf16')
    with pytest.raises(ValueError, match='re-iterable'):
        TensorRTBackend(tmp_path, precision='int8', calibration_frames=iter(frames(2)))


def test_tensorrt_available_gives_a_reason_here():
    available, reason = tensorrt_available()
    assert isinstance(available, bool) and isinstance(reason, str) and reason


def test_missing_tensorrt_is_reported(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, 'tensorrt', None)  # makes `import tensorrt` fail
    available, reason = tensorrt_available()
    assert not available and 'TensorRT is not installed' in reason
    with pytest.raises(RuntimeError, match='TensorRT is not installed'):
        TensorRTBackend(tmp_path)


def test_tensorrt_other_than_10_is_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, 'tensorrt', types.SimpleNamespace(__version__='11.0.0'))
    available, reason = tensorrt_available()
    assert not available and 'TensorRT 11.0.0 is installed' in reason and '10.x' in reason


def test_tensorrt_without_cuda_is_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, 'tensorrt', types.SimpleNamespace(__version__='10.3.0'))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    available, reason = tensorrt_available()
    assert not available and 'torch.cuda.is_available() is False' in reason


# Below: TensorRT 10 and a CUDA GPU. The model is the tiny one of test_runtime.py.

CONFIG = ModelConfig(feature_dims=8, height=64, width=96, encoder_width=16)


@pytest.fixture(scope='module')
def trt_model_dir(tmp_path_factory):
    """Return a tiny exported model directory, or skip with tensorrt_available()'s reason."""
    available, reason = tensorrt_available()
    if not available:
        pytest.skip(reason)
    torch.manual_seed(0)
    directory = save_model(DeFeatNet(CONFIG), tmp_path_factory.mktemp('trt') / 'model')
    export_onnx(directory)
    return directory


def images(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, 64, 96, generator=gen), torch.rand(1, 3, 64, 96, generator=gen)


@pytest.mark.parametrize('precision,depth_tol,cosine,pose_tol', [
    ('fp32', 1e-3, 0.9999, 1e-4),
    ('fp16', 0.05, 0.995, 1e-3),
])
def test_engines_match_pytorch_fp32(trt_model_dir, precision, depth_tol, cosine, pose_tol):
    backend = TensorRTBackend(trt_model_dir, precision=precision, device='cuda:0')
    reference = TorchBackend(trt_model_dir)  # CPU fp32: no TF32 in the reference
    a, b = images()
    depth, features, pose = backend.depth(a), backend.features(a), backend.pose(a, b)
    assert backend.name == 'tensorrt'
    for output, shape in [(depth, (1, 1, 64, 96)), (features, (1, 8, 64, 96)),
                          (pose, (1, 4, 4))]:
        assert output.device == torch.device('cuda:0') and output.dtype == torch.float32
        assert tuple(output.shape) == shape
    expected = reference.depth(a)
    assert ((depth.cpu() - expected).abs() / expected).max() < depth_tol
    similarity = F.cosine_similarity(features.cpu(), reference.features(a), dim=1)
    assert similarity.min() > cosine
    assert (pose.cpu() - reference.pose(a, b)).abs().max() < pose_tol


def test_second_start_loads_the_cached_engines(trt_model_dir, monkeypatch):
    first = TensorRTBackend(trt_model_dir, precision='fp16')
    assert timing_cache_file(trt_model_dir, first.platform).is_file()
    assert len(list(engine_dir(trt_model_dir).glob('*-fp16-*.engine'))) == len(GRAPHS)

    def no_build(*args, **kwargs):
        raise AssertionError('an engine was rebuilt although a matching one was cached')

    monkeypatch.setattr(tensorrt_engine, 'build_engine', no_build)
    second = TensorRTBackend(trt_model_dir, precision='fp16')
    a, _ = images()
    assert torch.allclose(second.depth(a), first.depth(a))


def test_engine_tensorrt_cannot_deserialize_is_rebuilt(trt_model_dir, caplog):
    backend = TensorRTBackend(trt_model_dir, precision='fp16')
    spec = engine_spec(onnx_path(trt_model_dir, 'depth'), 'fp16', backend.platform)
    store_engine(trt_model_dir, 'depth', spec, b'not a TensorRT plan')  # sidecar digest matches
    with caplog.at_level(logging.WARNING):
        rebuilt = TensorRTBackend(trt_model_dir, precision='fp16')
    assert 'could not deserialize the cached depth engine' in caplog.text
    assert cached_engine(trt_model_dir, 'depth', spec) != b'not a TensorRT plan'
    a, _ = images()
    assert torch.allclose(rebuilt.depth(a), backend.depth(a), rtol=1e-3)


def test_wrong_input_size_is_rejected(trt_model_dir):
    backend = TensorRTBackend(trt_model_dir, precision='fp16')
    with pytest.raises(ValueError, match='expects images of shape 1x3x64x96'):
        backend.depth(torch.rand(1, 3, 96, 64))
    with pytest.raises(ValueError, match='expects images of shape 1x3x64x96'):
        backend.pose(torch.rand(1, 3, 64, 96), torch.rand(2, 3, 64, 96))


def test_outputs_follow_the_current_torch_stream(trt_model_dir):
    backend = TensorRTBackend(trt_model_dir, precision='fp16')
    a, _ = images()
    expected = backend.depth(a).cpu()
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        depth = backend.depth(a.cuda()) * 1.0  # a torch op ordered after the engine
    stream.synchronize()
    assert torch.allclose(depth.cpu(), expected)


def test_int8_engines_calibrate_then_rebuild_from_the_calibration_cache(trt_model_dir):
    calibration = [torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(i))
                   for i in range(8)]
    backend = TensorRTBackend(trt_model_dir, precision='int8', calibration_frames=calibration)
    spec = engine_spec(onnx_path(trt_model_dir, 'pose'), 'int8', backend.platform)
    for graph in GRAPHS:
        digest = engine_spec(onnx_path(trt_model_dir, graph), 'int8', backend.platform)
        assert calibration_cache_file(trt_model_dir, graph, digest.onnx_sha256).is_file()
    a, b = images()
    depth = backend.depth(a)
    assert depth.isfinite().all() and depth.min() > 0.05 and depth.max() < 200
    assert backend.pose(a, b).isfinite().all()
    for path in engine_dir(trt_model_dir).glob('*-int8-*'):
        path.unlink()
    again = TensorRTBackend(trt_model_dir, precision='int8')  # no frames: the cache suffices
    assert again.depth(a).isfinite().all()
    assert cached_engine(trt_model_dir, 'pose', spec) is not None


def test_unparsable_onnx_file_is_named(trt_model_dir, tmp_path):
    broken = tmp_path / 'broken.onnx'
    broken.write_bytes(b'this is not a protobuf')
    with pytest.raises(ValueError, match='cannot parse .*broken.onnx'):
        build_engine(broken, precision='fp16')


def test_dla_core_the_device_lacks_is_rejected(trt_model_dir):
    with pytest.raises(ValueError, match='DLA core 64 requested'):
        build_engine(onnx_path(trt_model_dir, 'depth'), precision='fp16', dla_core=64)
