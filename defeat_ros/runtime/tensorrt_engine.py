"""
TensorRT backend: the exported graphs as engines built for this device, or loaded from cache.

Engines come from ``<model_dir>/engines/`` when one matches this device, TensorRT version, ONNX
file, precision, DLA core and calibration (:mod:`defeat_ros.runtime.engine_cache`), else they
are built (:mod:`defeat_ros.runtime.tensorrt_build`, which also has the Jetson notes) and
cached. Missing or stale ONNX files are exported first: on TensorRT 10 the fp32 graphs (the
builder lowers precision), on TensorRT 11 the graph of the precision itself (fp16 export, or
symmetric int8 Q/DQ quantised from the calibration frames).

All memory is torch's: inputs and outputs are torch CUDA tensors whose pointers are handed to
the execution context. Each engine runs on a CUDA stream of its own, ordered after the work
already queued on torch's current stream and before anything queued there later; no call
synchronises the device, and the legacy default stream (which synchronises implicitly) is never
used.
"""

import logging

from defeat_ros.nets.model_dir import read_config
from defeat_ros.runtime.calibration import frames_digest
from defeat_ros.runtime.engine_cache import (cached_engine, calibration_cache, device_identity,
                                             engine_spec, module_model, Platform,
                                             remove_other_calibrations, store_engine,
                                             timing_cache_file)
from defeat_ros.runtime.graph_backend import GraphBackend, GRAPHS
from defeat_ros.runtime.onnx_export import (check_onnx, ensure_onnx, file_digest, INPUT_NAMES,
                                            int8_path, OUTPUT_NAMES)
from defeat_ros.runtime.shapes import check_image
from defeat_ros.runtime.tensorrt_build import (build_engine, import_tensorrt, PRECISIONS,
                                               strongly_typed)
import torch

LOG = logging.getLogger(__name__)
TORCH_DTYPES = {'FLOAT': torch.float32, 'HALF': torch.float16, 'BF16': torch.bfloat16,
                'INT8': torch.int8, 'UINT8': torch.uint8, 'INT32': torch.int32,
                'INT64': torch.int64, 'BOOL': torch.bool}
"""torch dtypes of TensorRT's ``DataType`` members, by member name."""
ALIGNMENT = 256
"""Bytes every I/O address handed to TensorRT is aligned to (``setTensorAddress``)."""


def tensorrt_available():
    """
    Tell whether the TensorRT backend can run here.

    :return: (True, what it would run on) or (False, why not): TensorRT missing, not version
        10 or 11, or no CUDA device.
    """
    try:
        trt = import_tensorrt()
    except RuntimeError as error:
        return False, str(error)
    if not torch.cuda.is_available():
        return False, 'no CUDA device: torch.cuda.is_available() is False'
    return True, f'TensorRT {trt.__version__} on {torch.cuda.get_device_name()}'


def check_backend_options(precision, calibration_frames):
    """Reject a bad precision, or calibration frames that cannot be read once per graph."""
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    if calibration_frames is not None and iter(calibration_frames) is calibration_frames:
        raise ValueError('calibration_frames must be re-iterable (a list, not a generator): '
                         'each graph is calibrated on them')


def current_platform(trt, device):
    """Identify the device engines are built for here (:class:`Platform`)."""
    props = torch.cuda.get_device_properties(device)
    identity = device_identity(props.multi_processor_count, props.total_memory, module_model())
    return Platform(props.name, f'{props.major}.{props.minor}', identity, trt.__version__)


def empty_aligned(shape, dtype, device):
    """Return an uninitialised tensor whose data pointer is a multiple of :data:`ALIGNMENT`."""
    count = 1
    for size in shape:
        count *= size
    itemsize = torch.empty((), dtype=dtype).element_size()
    buffer = torch.empty(count + ALIGNMENT // itemsize, dtype=dtype, device=device)
    offset = (-buffer.data_ptr() % ALIGNMENT) // itemsize
    return buffer[offset:offset + count].view(shape)


def aligned(tensor):
    """Return ``tensor`` contiguous at an address TensorRT accepts (copied when it is not)."""
    tensor = tensor.contiguous()
    if tensor.data_ptr() % ALIGNMENT == 0:
        return tensor
    copy = empty_aligned(tuple(tensor.shape), tensor.dtype, tensor.device)
    copy.copy_(tensor)
    return copy


class EngineRunner:
    """One deserialized engine and its execution context, run on torch-owned CUDA memory."""

    def __init__(self, engine, device):
        """Create the execution context and its stream; read the I/O tensors' shapes and dtypes."""
        self.engine = engine
        self.context = engine.create_execution_context()
        self.device = device
        self.stream = torch.cuda.Stream(device)
        self.inputs, self.outputs = {}, {}
        for index in range(engine.num_io_tensors):
            name = engine.get_tensor_name(index)
            spec = (tuple(engine.get_tensor_shape(name)),
                    TORCH_DTYPES[engine.get_tensor_dtype(name).name])
            is_input = engine.get_tensor_mode(name).name == 'INPUT'  # trt.TensorIOMode.INPUT
            (self.inputs if is_input else self.outputs)[name] = spec

    def __call__(self, inputs):
        """
        Run the engine on its own stream, between torch's current stream's work.

        The engine starts once the current stream's queued work (which made ``inputs``) is
        done, and the current stream waits for the engine before anything queued later: so
        the outputs are ready for it, and the inputs' memory, which torch's allocator may hand
        out again on the current stream, is not overwritten while the engine reads it.

        :param inputs: {input name: CUDA tensor of the input's shape and dtype}.
        :return: {output name: new CUDA tensor}, valid in the current stream's order.
        """
        current = torch.cuda.current_stream(self.device)
        inputs = {name: aligned(tensor) for name, tensor in inputs.items()}
        outputs = {name: empty_aligned(shape, dtype, self.device)
                   for name, (shape, dtype) in self.outputs.items()}
        for name, tensor in {**inputs, **outputs}.items():
            self.context.set_tensor_address(name, tensor.data_ptr())
        self.stream.wait_stream(current)
        if not self.context.execute_async_v3(self.stream.cuda_stream):
            raise RuntimeError('TensorRT could not enqueue the engine; its log says why')
        current.wait_stream(self.stream)
        return outputs


class TensorRTBackend(GraphBackend):
    """
    Depth, features and pose from TensorRT engines of a model directory.

    Inputs are 1 x 3 x H x W float images in [0, 1] at the model's resolution, on any device;
    outputs are float32 tensors on the CUDA device.
    """

    name = 'tensorrt'

    def __init__(self, model_dir, precision='fp16', device='cuda:0', workspace_bytes=1 << 30,
                 calibration_frames=None, dla_core=None):
        """
        Load (or build and cache) the depth, features and pose engines of ``model_dir``.

        :param precision: 'fp16' (recommended), 'fp32' or 'int8'.
        :param device: the CUDA device, e.g. 'cuda:0'.
        :param workspace_bytes: builder workspace; 256 MiB (``256 << 20``) suits a Jetson.
        :param calibration_frames: int8 only, when no calibration cache exists yet: a list of
            consecutive 1 x 3 x H x W frames in [0, 1]; it is iterated once per graph.
        :param dla_core: Jetson DLA core with GPU fallback; None (default) runs on the GPU.
        :raise RuntimeError: when TensorRT or CUDA is unavailable, saying which.
        """
        check_backend_options(precision, calibration_frames)
        available, reason = tensorrt_available()
        if not available:
            raise RuntimeError(f'the TensorRT backend cannot run: {reason}')
        self.device = torch.device(device)
        if self.device.type != 'cuda':
            raise ValueError(f'TensorRT runs on a CUDA device, got {device!r}')
        self.model_dir = model_dir
        self.config = read_config(model_dir)
        self.precision = precision
        self.options = {'workspace_bytes': workspace_bytes, 'dla_core': dla_core,
                        'calibration_frames': calibration_frames}
        with torch.cuda.device(self.device):
            self.trt = trt = import_tensorrt()
            self.logger = trt.Logger(trt.Logger.WARNING)
            self.runtime = trt.Runtime(self.logger)
            if dla_core is not None:
                self.runtime.DLA_core = dla_core
            self.platform = current_platform(trt, self.device)
            self.engines = {graph: EngineRunner(self.load_engine(graph), self.device)
                            for graph in GRAPHS}

    def load_engine(self, graph):
        """Deserialize the engine of ``graph`` from the cache, else build and cache it."""
        onnx_file, calibration = self.graph_file(graph)
        spec = engine_spec(onnx_file, self.precision, self.platform, self.options['dla_core'],
                           calibration.get('digest'))
        serialized = cached_engine(self.model_dir, graph, spec)
        if serialized is not None:
            engine = self.runtime.deserialize_cuda_engine(serialized)
            if engine is not None:
                return engine
            LOG.warning('TensorRT could not deserialize the cached %s engine; rebuilding it',
                        graph)
        serialized = build_engine(
            onnx_file, self.precision, workspace_bytes=self.options['workspace_bytes'],
            timing_cache_path=timing_cache_file(self.model_dir, self.platform, self.precision,
                                                self.options['dla_core']),
            calibration_frames=calibration.get('frames'),
            calibration_cache_path=calibration.get('cache'), dla_core=self.options['dla_core'])
        if calibration.get('frames') is not None and calibration.get('cache') is not None:
            remove_other_calibrations(calibration['cache'])
        store_engine(self.model_dir, graph, spec, serialized)
        engine = self.runtime.deserialize_cuda_engine(serialized)
        if engine is None:
            raise RuntimeError(f'TensorRT built the {graph} engine but cannot deserialize it')
        return engine

    def graph_file(self, graph):
        """
        Choose the ONNX file TensorRT builds ``graph`` from, and its int8 calibration.

        :return: (ONNX path, calibration): calibration is {} except for int8, where 'digest'
            names the frames the scales come from and, on TensorRT 10, 'frames' (those given
            now, or None) and 'cache' (TensorRT's calibration cache) feed the calibrator.
        """
        frames = self.options['calibration_frames']
        typed = strongly_typed(self.trt)
        if self.precision != 'int8':
            precision = self.precision if typed else 'fp32'
            return ensure_onnx(self.model_dir, graph, self.config, precision=precision), {}
        if typed:
            return self.symmetric_int8_file(graph, frames)
        onnx_file = ensure_onnx(self.model_dir, graph, self.config)
        cache, digest = calibration_cache(self.model_dir, graph, file_digest(onnx_file),
                                          self.platform, frames)
        return onnx_file, {'digest': digest, 'frames': frames, 'cache': cache}

    def symmetric_int8_file(self, graph, frames):
        """
        Return the symmetric int8 Q/DQ graph (TensorRT 11), quantised again for new frames.

        :return: (path, {'digest': digest of its calibration frames}).
        :raise ValueError: when there is no current file and no frames to quantise with.
        """
        from defeat_ros.runtime.quantise import quantise_onnx
        path = int8_path(self.model_dir, graph, 'tensorrt')
        recorded = None
        if path.is_file():
            try:
                proto = check_onnx(path, self.config, self.model_dir)
                recorded = {p.key: p.value for p in proto.metadata_props}.get('calibration')
            except ValueError as error:
                LOG.warning('%s; quantising it again', error)
        wanted = frames_digest(frames) if frames is not None else recorded
        if wanted is None:
            raise ValueError(f'int8 needs calibration: {path} is missing or stale; pass '
                             'calibration_frames (consecutive 1 x 3 x H x W frames in [0, 1] '
                             'from the deployment camera)')
        if wanted != recorded:
            quantise_onnx(self.model_dir, frames, graphs=(graph,), int8_format='tensorrt')
        return path, {'digest': wanted}

    def run_graph(self, graph, *images):
        """Run ``graph`` on 1 x 3 x H x W arrays or tensors: float32 tensors, a tuple."""
        runner = self.engines[graph]
        inputs = {}
        for name, image in zip(INPUT_NAMES[graph], images):
            check_image(image, self.config)
            inputs[name] = torch.as_tensor(image).to(device=self.device,
                                                     dtype=runner.inputs[name][1])
        with torch.cuda.device(self.device):
            outputs = runner(inputs)
        return tuple(outputs[name].float() for name in OUTPUT_NAMES[graph])
