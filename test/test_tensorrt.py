"""
TensorRT path: engine keys and caches, calibration, the builder and runtime call sequences.

Everything above the line "TensorRT 10 and a CUDA GPU" runs everywhere: the call sequences run
against a recording fake of the ``tensorrt`` module (test/tensorrt_fake.py), TensorRT 10 and 11.
Tests that build and run real engines need TensorRT and a CUDA GPU; elsewhere they are skipped
with the reason ``tensorrt_available()`` gives.
"""

import contextlib
import json
import logging
from pathlib import Path
import shutil
import sys
import types

from defeat_ros.nets import ModelConfig, save_model
from defeat_ros.runtime import tensorrt_build, tensorrt_engine
from defeat_ros.runtime.calibration import frames_digest
from defeat_ros.runtime.engine_cache import (cached_engine, calibration_cache, device_identity,
                                             engine_dir, engine_file, engine_spec, EngineSpec,
                                             module_model, Platform, remove_other_calibrations,
                                             sidecar_file, store_engine, timing_cache_file)
from defeat_ros.runtime.graph_backend import GRAPHS
from defeat_ros.runtime.onnx_export import export_onnx, int8_path, onnx_path
from defeat_ros.runtime.tensorrt_build import build_engine, CalibrationFeed, check_build_options
from defeat_ros.runtime.tensorrt_engine import tensorrt_available, TensorRTBackend
from defeat_ros.runtime.torch_backend import TorchBackend
import pytest
from tensorrt_fake import calls_named, fake_tensorrt
import torch
import torch.nn.functional as F
from untrained import untrained_model

KEY_FIELDS = {'gpu_name': 'Orin', 'compute_capability': '8.7',
              'device': 'NVIDIA Jetson AGX Orin Developer Kit; 16 SMs; 62841 MiB',
              'tensorrt_version': '10.3.0', 'onnx_sha256': 'ab' * 32, 'precision': 'fp16'}
PLATFORM = Platform('NVIDIA GeForce RTX 4090', '8.9', '128 SMs; 24210 MiB', '10.3.0')
SHAPE = (1, 3, 4, 6)


def test_engine_key_is_short_and_stable():
    # A golden value: changing the key function silently orphans every deployed engine cache.
    assert EngineSpec(**KEY_FIELDS).key == 'fp16-edba98043f424d77'
    assert EngineSpec(**KEY_FIELDS, dla_core=None).key == EngineSpec(**KEY_FIELDS).key


@pytest.mark.parametrize('field,value', [
    ('gpu_name', 'NVIDIA GeForce RTX 4090'), ('compute_capability', '8.9'),
    ('device', 'NVIDIA Jetson Orin Nano Developer Kit; 8 SMs; 7620 MiB'),
    ('tensorrt_version', '10.3.1'), ('onnx_sha256', 'cd' * 32), ('precision', 'int8'),
    ('dla_core', 0), ('calibration', '0123456789abcdef')])
def test_engine_key_changes_with_every_field(field, value):
    assert EngineSpec(**{**KEY_FIELDS, field: value}).key != EngineSpec(**KEY_FIELDS).key


def test_jetson_modules_of_one_name_and_capability_are_told_apart(tmp_path):
    """Every Orin reports 'Orin' and 8.7; the device tree names the module."""
    tree = tmp_path / 'model'
    tree.write_bytes(b'NVIDIA Jetson Orin Nano Developer Kit\0')
    assert module_model(tree) == 'NVIDIA Jetson Orin Nano Developer Kit'
    assert module_model(tmp_path / 'absent') == ''
    nano = device_identity(8, 7620 << 20, module_model(tree))
    assert nano == 'NVIDIA Jetson Orin Nano Developer Kit; 8 SMs; 7620 MiB'
    assert device_identity(16, 62841 << 20, 'NVIDIA Jetson AGX Orin Developer Kit') != nano
    assert device_identity(128, 24210 << 20) == '128 SMs; 24210 MiB'  # a desktop GPU


def test_timing_caches_are_kept_per_platform_precision_and_dla_core(tmp_path):
    other_gpu = PLATFORM._replace(gpu_name='Orin', compute_capability='8.7')
    files = {timing_cache_file(tmp_path, platform, precision, dla)
             for platform in (PLATFORM, other_gpu) for precision in ('fp32', 'fp16', 'int8')
             for dla in (None, 0)}
    assert len(files) == 12
    assert (timing_cache_file(tmp_path, PLATFORM, 'fp16')
            == timing_cache_file(tmp_path, PLATFORM, 'fp16', None))


def test_calibration_caches_are_named_for_onnx_platform_and_frames(tmp_path):
    data = frames(3)
    cache, digest = calibration_cache(tmp_path, 'depth', 'ab' * 32, PLATFORM, data)
    assert digest == frames_digest(data) and cache.name.endswith(f'-{digest}.calibration')
    assert calibration_cache(tmp_path, 'depth', 'ab' * 32, PLATFORM) == (None, None)
    for changed in [('pose', 'ab' * 32, PLATFORM, data), ('depth', 'cd' * 32, PLATFORM, data),
                    ('depth', 'ab' * 32, PLATFORM._replace(tensorrt_version='10.8.0'), data),
                    ('depth', 'ab' * 32, PLATFORM._replace(device='other'), data),
                    ('depth', 'ab' * 32, PLATFORM, frames(3, seed=1))]:
        assert calibration_cache(tmp_path, *changed)[0] != cache
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b'scales')
    # Without frames, the cache there is serves, and its frames' digest keys the engine.
    assert calibration_cache(tmp_path, 'depth', 'ab' * 32, PLATFORM) == (cache, digest)
    newer, _ = calibration_cache(tmp_path, 'depth', 'ab' * 32, PLATFORM, frames(3, seed=1))
    newer.write_bytes(b'new scales')
    other_graph, _ = calibration_cache(tmp_path, 'pose', 'ab' * 32, PLATFORM, data)
    other_graph.write_bytes(b'pose scales')
    remove_other_calibrations(newer)
    assert not cache.exists() and newer.exists() and other_graph.exists()


@pytest.fixture
def model_dir(tmp_path):
    """Return a model directory holding a stand-in depth.onnx (the cache only hashes it)."""
    onnx_path(tmp_path, 'depth').write_bytes(b'depth graph, exported today')
    return tmp_path


def spec_for(model_dir, precision='fp16', platform=PLATFORM):
    """Describe the engine of the stand-in depth.onnx."""
    return engine_spec(onnx_path(model_dir, 'depth'), precision, platform)


def test_matching_engine_is_loaded(model_dir, caplog):
    spec = spec_for(model_dir)
    path = store_engine(model_dir, 'depth', spec, b'serialized engine')
    assert path == engine_file(model_dir, 'depth', spec) and path.parent == engine_dir(model_dir)
    sidecar = json.loads(sidecar_file(path).read_text())
    assert {k: sidecar[k] for k in ('gpu_name', 'device', 'precision', 'calibration')} == {
        'gpu_name': PLATFORM.gpu_name, 'device': PLATFORM.device, 'precision': 'fp16',
        'calibration': None}
    assert sidecar['onnx_sha256'] == spec.onnx_sha256
    with caplog.at_level(logging.INFO):
        assert cached_engine(model_dir, 'depth', spec) == b'serialized engine'
    assert 'loading the cached TensorRT engine' in caplog.text


def test_no_cache_yet_means_build(model_dir, caplog):
    with caplog.at_level(logging.INFO):
        assert cached_engine(model_dir, 'depth', spec_for(model_dir)) is None
    assert 'no cached TensorRT engine for depth' in caplog.text


OTHER_BUILDS = {
    'gpu_name': {'platform': PLATFORM._replace(gpu_name='Orin', compute_capability='8.7')},
    'device': {'platform': PLATFORM._replace(device='NVIDIA Jetson Orin NX; 8 SMs; 15389 MiB')},
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
    """Return ``count`` random frames of SHAPE."""
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
    with pytest.raises(ValueError, match='DLA runs fp16 or int8 only'):
        build_engine(onnx, precision='fp32', dla_core=0)
    check_build_options('int8', 0)


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


@pytest.mark.parametrize('version', ['9.2.0', '12.0.0', 'unknown'])
def test_tensorrt_other_than_10_or_11_is_refused(monkeypatch, version):
    monkeypatch.setitem(sys.modules, 'tensorrt', types.SimpleNamespace(__version__=version))
    available, reason = tensorrt_available()
    assert not available and f'TensorRT {version} is installed' in reason
    assert '10.x or 11.x' in reason


def test_tensorrt_without_cuda_is_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, 'tensorrt', types.SimpleNamespace(__version__='10.3.0'))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    available, reason = tensorrt_available()
    assert not available and 'torch.cuda.is_available() is False' in reason


# The builder and runtime call sequences, against the recording fake of TensorRT 10 and 11.

CONFIG = ModelConfig(feature_dims=8, height=64, width=96, encoder_width=16)


@pytest.fixture(scope='module')
def exported(tiny_model, tmp_path_factory):
    """Return a copy of the tiny model (at CONFIG) with its fp32 graphs exported."""
    directory = shutil.copytree(tiny_model, tmp_path_factory.mktemp('fake') / 'model')
    export_onnx(directory)
    return directory


def install_fake(monkeypatch, version, dla_cores=0):
    """Make ``import tensorrt`` return the recording fake; calibration buffers on the CPU."""
    trt = fake_tensorrt(version, dla_cores)
    monkeypatch.setitem(sys.modules, 'tensorrt', trt)
    monkeypatch.setattr(tensorrt_build, 'FEED_DEVICE', 'cpu')
    return trt


def camera_frames(count, seed=0):
    """Return ``count`` frames 1 x 3 x 64 x 96 in [0, 1]."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand(1, 3, 64, 96, generator=gen) for _ in range(count)]


def built(engine):
    """Read the fake's serialized engine: the settings it was built with."""
    return json.loads(bytes(engine))


@pytest.mark.parametrize('precision,flags', [('fp32', set()), ('fp16', {'FP16'}),
                                             ('int8', {'FP16', 'INT8'})])
def test_tensorrt_10_builds_weakly_typed_networks(exported, monkeypatch, tmp_path, precision,
                                                  flags):
    trt = install_fake(monkeypatch, '10.3.0')
    int8 = precision == 'int8'
    engine = build_engine(onnx_path(exported, 'pose'), precision, workspace_bytes=256 << 20,
                          timing_cache_path=tmp_path / 'timing.cache',
                          calibration_frames=camera_frames(3) if int8 else None,
                          calibration_cache_path=tmp_path / 'pose.calibration' if int8 else None)
    names = [name for name, _ in trt.calls]
    assert names.index('OnnxParser.parse') < names.index('build_serialized_network')
    assert calls_named(trt, 'create_network') == [(0,)]
    assert calls_named(trt, 'set_memory_pool_limit') == [('WORKSPACE', 256 << 20)]
    settings = built(engine)
    assert set(settings['flags']) == flags | ({'TF32'} if precision != 'fp32' else set())
    assert not settings['strongly_typed'] and settings['device_type'] == 'GPU'
    assert [name for name, *_ in settings['io']] == ['previous', 'current', 'motion']
    assert (tmp_path / 'timing.cache').read_bytes() == b'+timings'
    if int8:  # the pose graph calibrates on consecutive pairs: 3 frames, 2 batches
        assert calls_named(trt, 'calibrated') == [(2,)]
        assert (tmp_path / 'pose.calibration').read_bytes() == b'scales of 2 batches'
        again = build_engine(onnx_path(exported, 'pose'), 'int8',
                             calibration_cache_path=tmp_path / 'pose.calibration')
        assert built(again)['flags'] == settings['flags']
        assert calls_named(trt, 'calibration cache read') == [()]
    else:
        assert 'IInt8EntropyCalibrator2' not in names


def test_tensorrt_10_int8_without_frames_or_cache_is_refused(exported, monkeypatch, tmp_path):
    install_fake(monkeypatch, '10.3.0')
    with pytest.raises(ValueError, match='int8 needs calibration'):
        build_engine(onnx_path(exported, 'depth'), 'int8',
                     calibration_cache_path=tmp_path / 'none.calibration')


def test_unusable_calibration_frame_fails_the_build_with_its_reason(exported, monkeypatch):
    install_fake(monkeypatch, '10.3.0')
    with pytest.raises(ValueError, match='calibration frame 1 has values in'):
        build_engine(onnx_path(exported, 'depth'), 'int8',
                     calibration_frames=camera_frames(1) + [torch.full((1, 3, 64, 96), 255.0)])


@pytest.mark.parametrize('precision,source', [('fp32', 'fp32'), ('fp16', 'fp16'),
                                              ('int8', 'int8-tensorrt')])
def test_tensorrt_11_builds_strongly_typed_networks(exported, monkeypatch, precision, source):
    """On TensorRT 11 (no fp16/int8 flags or calibrators, nor in the fake) types rule."""
    from defeat_ros.runtime.quantise import quantise_onnx
    trt = install_fake(monkeypatch, '11.0.0')
    if source == 'fp16':
        export_onnx(exported, graphs=('depth',), precision='fp16')
    if source == 'int8-tensorrt':
        quantise_onnx(exported, camera_frames(3), graphs=('depth',), int8_format='tensorrt')
    engine = build_engine(onnx_path(exported, 'depth', source), precision)
    settings = built(engine)
    assert calls_named(trt, 'create_network') == [(1 << 5,)]  # STRONGLY_TYPED
    assert settings['strongly_typed']
    assert set(settings['flags']) == (set() if precision == 'fp32' else {'TF32'})
    assert settings['io'][0][2] == ('HALF' if precision == 'fp16' else 'FLOAT')
    assert 'IInt8EntropyCalibrator2' not in [name for name, _ in trt.calls]


def test_dla_builds_place_layers_on_the_dla_with_gpu_fallback(exported, monkeypatch):
    install_fake(monkeypatch, '10.3.0', dla_cores=2)
    settings = built(build_engine(onnx_path(exported, 'depth'), 'fp16', dla_core=1))
    assert settings['device_type'] == 'DLA' and settings['dla_core'] == 1
    assert 'GPU_FALLBACK' in settings['flags'] and 'FP16' in settings['flags']
    with pytest.raises(ValueError, match='DLA core 2 requested; this device has 2'):
        build_engine(onnx_path(exported, 'depth'), 'fp16', dla_core=2)


def test_unparsable_onnx_file_is_named_with_the_parser_errors(monkeypatch, tmp_path):
    install_fake(monkeypatch, '10.3.0')
    broken = tmp_path / 'broken.onnx'
    broken.write_bytes(b'this is not a protobuf')
    with pytest.raises(ValueError, match='cannot parse .*broken.onnx:\n  ModelImporter'):
        build_engine(broken, precision='fp16')


class StandInStream:
    """A CUDA stream for the CPU: records waits and its handle in the fake's call list."""

    handles = iter(range(0x1000, 0x2000, 0x10))

    def __init__(self, trt, name, handle=None):
        self.trt, self.name = trt, name
        self.cuda_stream = next(self.handles) if handle is None else handle

    def wait_stream(self, other):
        self.trt.calls.append(('wait', (self.name, other.name)))


def stand_in_cuda(monkeypatch, trt):
    """Replace the torch.cuda calls of the TensorRT backend with CPU stand-ins."""
    current = StandInStream(trt, 'torch current', handle=0)  # torch's default: the legacy one
    monkeypatch.setattr(torch.cuda, 'Stream', lambda device=None: StandInStream(trt, 'engine'))
    monkeypatch.setattr(torch.cuda, 'current_stream', lambda device=None: current)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'get_device_name', lambda device=None: 'Orin')
    monkeypatch.setattr(torch.cuda, 'device', lambda device: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, 'get_device_properties', lambda device: types.SimpleNamespace(
        name='Orin', major=8, minor=7, multi_processor_count=8, total_memory=7620 << 20))


def test_engine_runs_on_its_own_stream_between_torch_work(exported, monkeypatch):
    trt = install_fake(monkeypatch, '10.3.0')
    stand_in_cuda(monkeypatch, trt)
    engine = trt.Runtime(None).deserialize_cuda_engine(
        build_engine(onnx_path(exported, 'pose'), 'fp16'))
    runner = tensorrt_engine.EngineRunner(engine, torch.device('cpu'))
    assert runner.inputs == {'previous': ((1, 3, 64, 96), torch.float32),
                             'current': ((1, 3, 64, 96), torch.float32)}
    assert runner.outputs == {'motion': ((1, 6), torch.float32)}
    storage = torch.rand(1 + 3 * 64 * 96)
    misaligned = storage[1:].view(1, 3, 64, 96)  # 4 bytes past an aligned address
    trt.calls.clear()
    outputs = runner({'previous': misaligned, 'current': torch.rand(1, 3, 64, 96)})
    assert [name for name, _ in trt.calls] == ['set_tensor_address'] * 3 + [
        'wait', 'execute_async_v3', 'wait']
    assert calls_named(trt, 'wait') == [('engine', 'torch current'), ('torch current', 'engine')]
    assert calls_named(trt, 'execute_async_v3') == [(runner.stream.cuda_stream,)]
    assert runner.stream.cuda_stream != 0  # never the legacy default stream
    addresses = dict(calls_named(trt, 'set_tensor_address'))
    assert addresses['motion'] == outputs['motion'].data_ptr()
    assert all(address % 256 == 0 for address in addresses.values())
    assert addresses['previous'] != misaligned.data_ptr()  # copied to an aligned buffer


@pytest.fixture
def fresh_model(tmp_path):
    """Return a tiny model directory of its own (engines and caches accumulate there)."""
    torch.manual_seed(0)
    return save_model(untrained_model(CONFIG), tmp_path / 'model')


@pytest.mark.parametrize('version', ['10.3.0', '11.0.0'])
def test_backend_builds_every_engine_once_then_loads_them(fresh_model, monkeypatch, version):
    trt = install_fake(monkeypatch, version)
    stand_in_cuda(monkeypatch, trt)
    backend = TensorRTBackend(fresh_model, precision='fp16')
    assert backend.platform == Platform('Orin', '8.7', '8 SMs; 7620 MiB', version)
    assert len(calls_named(trt, 'build_serialized_network')) == len(GRAPHS)
    sources = [Path(path).name for (path,) in calls_named(trt, 'OnnxParser.parse')]
    suffix = '.fp16.onnx' if version.startswith('11') else '.onnx'
    assert sources == [f'{graph}{suffix}' for graph in GRAPHS]
    assert len(list(engine_dir(fresh_model).glob('*-fp16-*.engine'))) == len(GRAPHS)
    assert timing_cache_file(fresh_model, backend.platform, 'fp16').is_file()
    trt.calls.clear()
    TensorRTBackend(fresh_model, precision='fp16')
    assert calls_named(trt, 'build_serialized_network') == []
    assert len(calls_named(trt, 'deserialize_cuda_engine')) == len(GRAPHS)


def test_new_calibration_frames_replace_the_old_calibration(fresh_model, monkeypatch):
    trt = install_fake(monkeypatch, '10.3.0')
    stand_in_cuda(monkeypatch, trt)
    first = camera_frames(3)
    TensorRTBackend(fresh_model, precision='int8', calibration_frames=first)
    assert len(calls_named(trt, 'calibrated')) == len(GRAPHS)
    caches = sorted(engine_dir(fresh_model).glob('*.calibration'))
    assert len(caches) == len(GRAPHS) and all(frames_digest(first) in c.name for c in caches)
    trt.calls.clear()
    TensorRTBackend(fresh_model, precision='int8')  # no frames: the engines of the last ones
    assert calls_named(trt, 'build_serialized_network') == []
    second = camera_frames(3, seed=1)
    TensorRTBackend(fresh_model, precision='int8', calibration_frames=second)
    assert len(calls_named(trt, 'calibrated')) == len(GRAPHS)  # calibrated again, not read
    caches = sorted(engine_dir(fresh_model).glob('*.calibration'))
    assert len(caches) == len(GRAPHS) and all(frames_digest(second) in c.name for c in caches)
    assert len(list(engine_dir(fresh_model).glob('*-int8-*.engine'))) == 2 * len(GRAPHS)


def test_tensorrt_11_int8_quantises_symmetric_qdq_graphs_from_the_frames(fresh_model,
                                                                         monkeypatch):
    trt = install_fake(monkeypatch, '11.0.0')
    stand_in_cuda(monkeypatch, trt)
    with pytest.raises(ValueError, match='int8 needs calibration'):
        TensorRTBackend(fresh_model, precision='int8')
    backend = TensorRTBackend(fresh_model, precision='int8', calibration_frames=camera_frames(3))
    for graph in GRAPHS:
        assert int8_path(fresh_model, graph, 'tensorrt').is_file()
    sources = [Path(path).name for (path,) in calls_named(trt, 'OnnxParser.parse')]
    assert sources == [f'{graph}.int8-tensorrt.onnx' for graph in GRAPHS]
    trt.calls.clear()
    TensorRTBackend(fresh_model, precision='int8')  # the Q/DQ graphs and engines serve
    assert calls_named(trt, 'build_serialized_network') == []
    assert backend.graph_file('pose')[1] == {'digest': frames_digest(camera_frames(3))}


# Below: TensorRT 10 or 11 and a CUDA GPU. The model is the tiny one of test_runtime.py.


@pytest.fixture(scope='module')
def trt_model_dir(tmp_path_factory):
    """Return a tiny exported model directory, or skip with tensorrt_available()'s reason."""
    available, reason = tensorrt_available()
    if not available:
        pytest.skip(reason)
    torch.manual_seed(0)
    directory = save_model(untrained_model(CONFIG), tmp_path_factory.mktemp('trt') / 'model')
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
    assert backend.pose(a, a).isfinite().all()  # a robot standing still
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
    assert timing_cache_file(trt_model_dir, first.platform, 'fp16').is_file()
    assert len(list(engine_dir(trt_model_dir).glob('*-fp16-*.engine'))) == len(GRAPHS)

    def no_build(*args, **kwargs):
        raise AssertionError('an engine was rebuilt although a matching one was cached')

    monkeypatch.setattr(tensorrt_engine, 'build_engine', no_build)
    second = TensorRTBackend(trt_model_dir, precision='fp16')
    a, _ = images()
    assert torch.allclose(second.depth(a), first.depth(a))


def test_engine_tensorrt_cannot_deserialize_is_rebuilt(trt_model_dir, caplog):
    backend = TensorRTBackend(trt_model_dir, precision='fp16')
    spec = engine_spec(backend.graph_file('depth')[0], 'fp16', backend.platform)
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


def test_int8_engines_calibrate_then_rebuild_from_what_the_calibration_left(trt_model_dir):
    calibration = [torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(i))
                   for i in range(8)]
    backend = TensorRTBackend(trt_model_dir, precision='int8', calibration_frames=calibration)
    onnx_file, _ = backend.graph_file('pose')
    spec = engine_spec(onnx_file, 'int8', backend.platform,
                       calibration=frames_digest(calibration))
    a, b = images()
    depth = backend.depth(a)
    assert depth.isfinite().all() and depth.min() > 0.05 and depth.max() < 200
    assert backend.pose(a, b).isfinite().all() and backend.pose(a, a).isfinite().all()
    for path in engine_dir(trt_model_dir).glob('*-int8-*'):
        path.unlink()
    # No frames: TensorRT 10's calibration cache or TensorRT 11's Q/DQ graph suffices.
    again = TensorRTBackend(trt_model_dir, precision='int8')
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
