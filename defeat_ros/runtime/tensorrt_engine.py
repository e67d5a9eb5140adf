"""
TensorRT backend: the three exported graphs as engines built for this GPU, or loaded from cache.

Engines come from ``<model_dir>/engines/`` when one matches this GPU, TensorRT version, ONNX
file and precision (:mod:`defeat_ros.runtime.engine_cache`), else they are built
(:mod:`defeat_ros.runtime.tensorrt_build`, which also has the Jetson notes) and cached.
Missing or stale ONNX files are exported first.

All memory is torch's: inputs and outputs are torch CUDA tensors whose pointers are handed to
the execution context, and each call enqueues ``execute_async_v3`` on the current torch CUDA
stream without synchronising, so torch operations on the outputs are ordered after the engine.
TensorRT adds synchronisation on the legacy default stream; for the lowest latency call the
backend inside ``with torch.cuda.stream(torch.cuda.Stream()):``.
"""

import logging

from defeat_ros.nets.model_dir import read_config
from defeat_ros.runtime.engine_cache import (cached_engine, calibration_cache_file, engine_spec,
                                             Platform, store_engine, timing_cache_file)
from defeat_ros.runtime.export_graphs import GRAPHS
from defeat_ros.runtime.graph_backend import GraphBackend
from defeat_ros.runtime.onnx_export import ensure_onnx, INPUT_NAMES, OUTPUT_NAMES
from defeat_ros.runtime.shapes import check_image
from defeat_ros.runtime.tensorrt_build import build_engine, import_tensorrt, PRECISIONS
import torch

LOG = logging.getLogger(__name__)
TORCH_DTYPES = {'FLOAT': torch.float32, 'HALF': torch.float16, 'BF16': torch.bfloat16,
                'INT8': torch.int8, 'UINT8': torch.uint8, 'INT32': torch.int32,
                'INT64': torch.int64, 'BOOL': torch.bool}
"""torch dtypes of TensorRT's ``DataType`` members, by member name."""


def tensorrt_available():
    """
    Tell whether the TensorRT backend can run here.

    :return: (True, what it would run on) or (False, why not): TensorRT missing, not version
        10, or no CUDA device.
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
                         'each of the three graphs is calibrated on them')


def current_platform(trt, device):
    """Identify the GPU of ``device`` and the TensorRT version engines are built for here."""
    major, minor = torch.cuda.get_device_capability(device)
    return Platform(torch.cuda.get_device_name(device), f'{major}.{minor}', trt.__version__)


class EngineRunner:
    """One deserialized engine and its execution context, run on torch-owned CUDA memory."""

    def __init__(self, engine, device):
        """Create the execution context and read the shapes and dtypes of the I/O tensors."""
        self.engine = engine
        self.context = engine.create_execution_context()
        self.device = device
        self.inputs, self.outputs = {}, {}
        for index in range(engine.num_io_tensors):
            name = engine.get_tensor_name(index)
            spec = (tuple(engine.get_tensor_shape(name)),
                    TORCH_DTYPES[engine.get_tensor_dtype(name).name])
            is_input = engine.get_tensor_mode(name).name == 'INPUT'  # trt.TensorIOMode.INPUT
            (self.inputs if is_input else self.outputs)[name] = spec

    def __call__(self, inputs):
        """
        Enqueue the engine on the current torch CUDA stream.

        :param inputs: {input name: contiguous CUDA tensor of the input's shape and dtype}.
        :return: {output name: new CUDA tensor}, valid in the stream's order.
        """
        outputs = {name: torch.empty(shape, dtype=dtype, device=self.device)
                   for name, (shape, dtype) in self.outputs.items()}
        for name, tensor in {**inputs, **outputs}.items():
            self.context.set_tensor_address(name, tensor.data_ptr())
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError('TensorRT could not enqueue the engine; its log says why')
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
            trt = import_tensorrt()
            self.logger = trt.Logger(trt.Logger.WARNING)
            self.runtime = trt.Runtime(self.logger)
            if dla_core is not None:
                self.runtime.DLA_core = dla_core
            self.platform = current_platform(trt, self.device)
            self.engines = {graph: EngineRunner(self.load_engine(graph), self.device)
                            for graph in GRAPHS}

    def load_engine(self, graph):
        """Deserialize the engine of ``graph`` from the cache, else build and cache it."""
        onnx_file = ensure_onnx(self.model_dir, graph, self.config)
        spec = engine_spec(onnx_file, self.precision, self.platform, self.options['dla_core'])
        serialized = cached_engine(self.model_dir, graph, spec)
        if serialized is not None:
            engine = self.runtime.deserialize_cuda_engine(serialized)
            if engine is not None:
                return engine
            LOG.warning('TensorRT could not deserialize the cached %s engine; rebuilding it',
                        graph)
        calibration_cache = calibration_cache_file(self.model_dir, graph, spec.onnx_sha256)
        serialized = build_engine(
            onnx_file, self.precision,
            timing_cache_path=timing_cache_file(self.model_dir, self.platform),
            calibration_cache_path=calibration_cache, **self.options)
        store_engine(self.model_dir, graph, spec, serialized)
        engine = self.runtime.deserialize_cuda_engine(serialized)
        if engine is None:
            raise RuntimeError(f'TensorRT built the {graph} engine but cannot deserialize it')
        return engine

    def run(self, graph, *images):
        """Run ``graph`` on 1 x 3 x H x W images; its outputs come back as float32, a tuple."""
        runner = self.engines[graph]
        inputs = {}
        for name, image in zip(INPUT_NAMES[graph], images):
            check_image(image, self.config)
            dtype = runner.inputs[name][1]
            inputs[name] = image.to(device=self.device, dtype=dtype).contiguous()
        with torch.cuda.device(self.device):
            outputs = runner(inputs)
        return tuple(outputs[name].float() for name in OUTPUT_NAMES[graph])
