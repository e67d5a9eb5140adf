"""
A recording stand-in for the ``tensorrt`` module, TensorRT 10 or 11, for machines without it.

It offers the part of the Python API defeat_ros calls, and checks each call as TensorRT does
where a mistake would only show on a GPU: TensorRT 11 has no fp16/int8 builder flags and no
calibrators, a strongly typed network refuses precision flags, a DLA core must exist, a tensor
address must be aligned, a network must be parsed before it is built. Every call is appended
to ``module.calls`` as (name, arguments), so a test can check the sequence.

The parser reads the real ONNX file (its inputs and outputs, with their types); a "serialized
engine" is JSON describing those tensors and the build's settings, and the runtime
deserializes only that.
"""

import enum
import json
import types

import onnx

ONNX_TYPES = {onnx.TensorProto.FLOAT: 'FLOAT', onnx.TensorProto.FLOAT16: 'HALF',
              onnx.TensorProto.INT8: 'INT8'}


def fake_tensorrt(version='10.3.0', dla_cores=0):
    """
    Return a module object standing in for ``tensorrt`` of ``version``.

    :param dla_cores: how many DLA cores its builder reports (2 on a Jetson AGX Orin).
    """
    module = types.ModuleType('tensorrt')
    module.__version__ = version
    module.calls = []
    major = int(version.split('.')[0])
    flags = ['TF32', 'GPU_FALLBACK'] + (['FP16', 'INT8'] if major < 11 else [])
    module.BuilderFlag = enum.Enum('BuilderFlag', flags)
    module.NetworkDefinitionCreationFlag = enum.IntEnum('NetworkDefinitionCreationFlag',
                                                        {'STRONGLY_TYPED': 5})
    module.MemoryPoolType = enum.Enum('MemoryPoolType', ['WORKSPACE'])
    module.DeviceType = enum.Enum('DeviceType', ['GPU', 'DLA'])

    def record(name, *args):
        module.calls.append((name, args))

    class Logger:
        """TensorRT's logger: only constructed."""

        WARNING = 'WARNING'

        def __init__(self, severity):
            record('Logger', severity)

    class Tensor:
        """A network input or output: name, static shape and TensorRT type name."""

        def __init__(self, name, shape, dtype):
            self.name, self.shape, self.dtype = name, tuple(shape), dtype

    class Network:
        """An explicit-batch network, strongly typed or not, filled by the parser."""

        def __init__(self, flags):
            self.flags = flags
            strongly_typed = int(module.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
            self.strongly_typed = bool(flags >> strongly_typed & 1)
            self.inputs, self.outputs = [], []

        @property
        def num_inputs(self):
            return len(self.inputs)

        def get_input(self, index):
            return self.inputs[index]

    class OnnxParser:
        """Reads the real ONNX file into the network, or reports why it cannot."""

        def __init__(self, network, logger):
            self.network = network
            self.errors = []

        @property
        def num_errors(self):
            return len(self.errors)

        def get_error(self, index):
            return self.errors[index]

        def parse(self, data, path):
            record('OnnxParser.parse', path)
            try:
                graph = onnx.load_from_string(data).graph
            except Exception as error:  # what TensorRT reports for a file that is not ONNX
                self.errors.append(f'ModelImporter: failed to parse the protobuf ({error})')
                return False
            self.network.inputs = [tensor_of(t) for t in graph.input]
            self.network.outputs = [tensor_of(t) for t in graph.output]
            return True

    class TimingCache:
        """A timing cache: the bytes it was created from, plus new timings."""

        def __init__(self, data):
            self.data = bytes(data)

        def serialize(self):
            return memoryview(self.data + b'+timings')

    class BuilderConfig:
        """The builder configuration: flags (TF32 on by default), workspace, DLA, calibrator."""

        def __init__(self):
            self.flags = {'TF32'}
            self.default_device_type = module.DeviceType.GPU
            self.DLA_core = -1
            self.int8_calibrator = None
            self.timing_cache = None
            self.workspace = None

        def set_memory_pool_limit(self, pool, size):
            record('set_memory_pool_limit', pool.name, size)
            self.workspace = size

        def set_flag(self, flag):
            record('set_flag', flag.name)
            self.flags.add(flag.name)

        def clear_flag(self, flag):
            record('clear_flag', flag.name)
            self.flags.discard(flag.name)

        def create_timing_cache(self, data):
            return TimingCache(data)

        def set_timing_cache(self, cache, ignore_mismatch):
            record('set_timing_cache', cache.data, ignore_mismatch)
            self.timing_cache = cache
            return True

        def get_timing_cache(self):
            return self.timing_cache

    class Builder:
        """Makes networks and configs, and builds them, checking the settings."""

        def __init__(self, logger):
            self.num_DLA_cores = dla_cores

        def create_network(self, flags):
            record('create_network', flags)
            return Network(flags)

        def create_builder_config(self):
            return BuilderConfig()

        def build_serialized_network(self, network, config):
            record('build_serialized_network', sorted(config.flags))
            if not network.inputs:
                raise AssertionError('built a network that was never parsed')
            if network.strongly_typed and config.flags & {'FP16', 'INT8'}:
                return None  # TensorRT: precision flags are not allowed when strongly typed
            if config.DLA_core >= dla_cores:
                return None
            if config.int8_calibrator is not None:
                calibrate(config.int8_calibrator, [t.name for t in network.inputs])
            return memoryview(json.dumps({
                'fake_engine': True, 'flags': sorted(config.flags),
                'strongly_typed': network.strongly_typed, 'workspace': config.workspace,
                'device_type': config.default_device_type.name, 'dla_core': config.DLA_core,
                'io': [[t.name, list(t.shape), t.dtype, mode]
                       for tensors, mode in ((network.inputs, 'INPUT'),
                                             (network.outputs, 'OUTPUT'))
                       for t in tensors]}).encode())

    def calibrate(calibrator, names):
        """Ask for batches as TensorRT's calibration does, unless a cache is offered."""
        assert calibrator.get_batch_size() == 1
        if calibrator.read_calibration_cache() is not None:
            record('calibration cache read')
            return
        batches = 0
        while calibrator.get_batch(names) is not None:
            batches += 1
        record('calibrated', batches)
        if batches:
            calibrator.write_calibration_cache(memoryview(b'scales of %d batches' % batches))

    def tensor_of(value_info):
        tensor_type = value_info.type.tensor_type
        return Tensor(value_info.name, [d.dim_value for d in tensor_type.shape.dim],
                      ONNX_TYPES[tensor_type.elem_type])

    class Engine:
        """A deserialized fake engine: its I/O tensors."""

        def __init__(self, description):
            self.description = description
            self.io = {name: (shape, dtype, mode) for name, shape, dtype, mode in
                       description['io']}

        @property
        def num_io_tensors(self):
            return len(self.io)

        def get_tensor_name(self, index):
            return list(self.io)[index]

        def get_tensor_shape(self, name):
            return self.io[name][0]

        def get_tensor_dtype(self, name):
            return types.SimpleNamespace(name=self.io[name][1])

        def get_tensor_mode(self, name):
            return types.SimpleNamespace(name=self.io[name][2])

        def create_execution_context(self):
            return ExecutionContext(self)

    class ExecutionContext:
        """Checks every address is set and aligned before an enqueue."""

        def __init__(self, engine):
            self.engine = engine
            self.addresses = {}

        def set_tensor_address(self, name, address):
            record('set_tensor_address', name, address)
            if name not in self.engine.io:
                raise AssertionError(f'no I/O tensor named {name}')
            if address % 256:
                raise AssertionError(f'{name} at {address:#x} is not 256-byte aligned')
            self.addresses[name] = address

        def execute_async_v3(self, stream_handle):
            record('execute_async_v3', stream_handle)
            return set(self.addresses) == set(self.engine.io)

    class Runtime:
        """Deserializes the fake's engines only."""

        def __init__(self, logger):
            self.DLA_core = -1

        def deserialize_cuda_engine(self, data):
            record('deserialize_cuda_engine', len(data))
            try:
                description = json.loads(bytes(data))
            except ValueError:
                return None
            return Engine(description) if description.get('fake_engine') else None

    module.Logger, module.Builder, module.OnnxParser, module.Runtime = (
        Logger, Builder, OnnxParser, Runtime)
    if major < 11:
        class IInt8EntropyCalibrator2:
            """TensorRT 10's calibrator base class (gone in 11)."""

            def __init__(self):
                record('IInt8EntropyCalibrator2')

        module.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2
    return module


def calls_named(module, name):
    """Return the arguments of every recorded call ``name``, in order."""
    return [args for called, args in module.calls if called == name]
