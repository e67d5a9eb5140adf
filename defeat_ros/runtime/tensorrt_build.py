"""
Build TensorRT engines from the exported ONNX graphs: fp32, fp16 or int8, on TensorRT 10 or 11.

TensorRT 10 builds weakly typed networks from the fp32 graphs: builder flags allow fp16 and
int8, and int8 scales come from TensorRT's entropy calibrator run on calibration frames
(deprecated since 10.1, working in every 10.x). TensorRT 11 removed both; it builds strongly
typed networks, whose precision is the ONNX file's own: the fp16 export (fp32 islands where
precision matters) or the package's symmetric int8 Q/DQ graph (``quantise.quantise_onnx`` with
``int8_format='tensorrt'``). :func:`strongly_typed` says which applies; the backend hands this
module the matching ONNX file.

Jetson (Orin, Xavier) notes:

* GPU and CPU share memory: pass a smaller ``workspace_bytes``, e.g. 256 MiB (``256 << 20``).
* fp16 is the recommended precision. int8 needs calibration frames from the deployment camera
  (a few hundred consecutive frames of a bag or dataset); the calibration cache it writes lets
  later builds skip them.
* The DLA is off by default (``dla_core=None``). With ``dla_core=0`` (or 1) layers run on that
  DLA core where it supports them and fall back to the GPU elsewhere; the DLA runs fp16 or int8
  only.
* Builds take minutes on a Jetson; the timing cache shortens rebuilds, and the engine cache
  (:mod:`defeat_ros.runtime.engine_cache`) avoids them.
"""

import logging
from pathlib import Path

from defeat_ros.runtime.derived_files import write_atomic
import torch

LOG = logging.getLogger(__name__)
PRECISIONS = ('fp32', 'fp16', 'int8')
TENSORRT_MAJORS = (10, 11)
FEED_DEVICE = 'cuda'
"""Where int8 calibration buffers live: TensorRT reads them on the current CUDA device."""


def tensorrt_major(trt):
    """Return the major version of the ``tensorrt`` module, None when it is not a number."""
    head = str(getattr(trt, '__version__', '')).split('.')[0]
    return int(head) if head.isdigit() else None


def strongly_typed(trt):
    """Whether this TensorRT builds strongly typed networks only (11 on; see the module)."""
    return tensorrt_major(trt) >= 11


def import_tensorrt():
    """
    Import TensorRT 10 or 11.

    :return: the ``tensorrt`` module.
    :raise RuntimeError: saying why TensorRT cannot be used (missing, broken or another major
        version).
    """
    try:
        import tensorrt
    except (ImportError, OSError) as error:  # OSError: the libnvinfer library is missing
        raise RuntimeError(f'TensorRT is not installed: import tensorrt failed ({error})')
    if tensorrt_major(tensorrt) not in TENSORRT_MAJORS:
        version = getattr(tensorrt, '__version__', 'unknown')
        raise RuntimeError(f'TensorRT {version} is installed; this backend needs TensorRT '
                           f'{" or ".join(f"{m}.x" for m in TENSORRT_MAJORS)}')
    return tensorrt


def check_build_options(precision, dla_core):
    """Reject option combinations that TensorRT would only fail on late or silently ignore."""
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    if dla_core is not None and precision == 'fp32':
        raise ValueError('the DLA runs fp16 or int8 only; use precision fp16 with dla_core')


def check_calibration(calibration_frames, calibration_cache_path):
    """Reject a TensorRT-calibrated int8 build with neither frames nor a calibration cache."""
    has_cache = calibration_cache_path is not None and Path(calibration_cache_path).is_file()
    if calibration_frames is None and not has_cache:
        raise ValueError(
            'int8 needs calibration: pass calibration_frames (consecutive 1 x 3 x H x W frames '
            'in [0, 1] from the deployment camera) or an existing calibration cache '
            f'({calibration_cache_path})')


def build_engine(onnx_path, precision='fp16', workspace_bytes=1 << 30, timing_cache_path=None,
                 calibration_frames=None, calibration_cache_path=None, dla_core=None):
    """
    Build a serialized TensorRT engine from an ONNX file on the current CUDA device.

    :param onnx_path: ONNX file with static 1 x 3 x H x W inputs (``export_onnx``): the fp32
        graph on TensorRT 10; on TensorRT 11 the graph of ``precision`` itself (fp32, fp16 or
        symmetric int8 Q/DQ).
    :param precision: 'fp32' (TF32 off), 'fp16', or 'int8' (with fp16 where int8 is not used).
    :param workspace_bytes: builder workspace limit; 256 MiB suits a Jetson.
    :param timing_cache_path: timing cache file, read before the build when it exists and
        written after it; None builds without one.
    :param calibration_frames: int8 on TensorRT 10 only: iterable of consecutive 1 x 3 x H x W
        float tensors in [0, 1] (a graph with two inputs, PoseNet's, sees consecutive pairs).
    :param calibration_cache_path: int8 on TensorRT 10 only: read instead of calibrating when
        it exists, written after calibrating.
    :param dla_core: DLA core to run on, with GPU fallback (Jetson); None: GPU only.
    :return: the serialized engine (bytes).
    :raise ValueError: bad options, an ONNX file TensorRT cannot parse (naming the file), or
        unusable calibration frames.
    """
    check_build_options(precision, dla_core)
    trt = import_tensorrt()
    typed = strongly_typed(trt)
    if precision == 'int8' and not typed:
        check_calibration(calibration_frames, calibration_cache_path)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # Explicit batch is the only mode since TensorRT 10; 11 builds strongly typed networks only.
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if typed else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)  # owns the weights: alive until built
    parse_onnx(parser, onnx_path)
    config = builder_config(trt, builder, precision, workspace_bytes, dla_core, typed)
    calibrator = None
    if precision == 'int8' and not typed:
        feed = CalibrationFeed(network_inputs(network), calibration_frames,
                               calibration_cache_path, FEED_DEVICE)
        calibrator = entropy_calibrator(trt, feed)
        config.int8_calibrator = calibrator
    attach_timing_cache(config, timing_cache_path)
    LOG.info('building a %s%s TensorRT engine from %s', 'strongly typed ' if typed else '',
             precision, onnx_path)
    serialized = builder.build_serialized_network(network, config)
    if calibrator is not None and calibrator.feed.error:
        raise ValueError(f'int8 calibration of {onnx_path} failed: {calibrator.feed.error}')
    if serialized is None:
        raise RuntimeError(f'TensorRT could not build a {precision} engine from {onnx_path}; '
                           'its log above says why')
    save_timing_cache(config, timing_cache_path)
    return bytes(serialized)


def parse_onnx(parser, onnx_path):
    """
    Parse ``onnx_path`` into the parser's network.

    :raise ValueError: naming the file, with every parser error, when parsing fails.
    """
    if not parser.parse(Path(onnx_path).read_bytes(), str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ValueError(f'TensorRT cannot parse {onnx_path}:\n  ' + '\n  '.join(errors))


def builder_config(trt, builder, precision, workspace_bytes, dla_core, typed=False):
    """
    Make a builder config with the workspace limit, precision flags and DLA placement.

    :param typed: a strongly typed network: no fp16 or int8 flags (TensorRT refuses them; the
        ONNX file's types are the precision).
    """
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if precision == 'fp32':
        config.clear_flag(trt.BuilderFlag.TF32)  # on by default; fp32 should mean fp32
    elif not typed:
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == 'int8' and not typed:
        config.set_flag(trt.BuilderFlag.INT8)
    if dla_core is not None:
        use_dla(trt, builder, config, dla_core)
    return config


def use_dla(trt, builder, config, dla_core):
    """Place layers on DLA core ``dla_core``, falling back to the GPU where it cannot run them."""
    if not 0 <= dla_core < builder.num_DLA_cores:
        raise ValueError(f'DLA core {dla_core} requested; this device has '
                         f'{builder.num_DLA_cores} DLA cores')
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = dla_core
    config.set_flag(trt.BuilderFlag.GPU_FALLBACK)


def network_inputs(network):
    """{name: shape} of the network's inputs, in graph order (temporal for the pose graph)."""
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    return {tensor.name: tuple(tensor.shape) for tensor in inputs}


def attach_timing_cache(config, path):
    """Give the build a timing cache: the file's when it exists and fits, else an empty one."""
    if path is None:
        return
    data = b''
    if Path(path).is_file():
        data = Path(path).read_bytes()
    cache = config.create_timing_cache(data)
    if cache is None or not config.set_timing_cache(cache, ignore_mismatch=False):
        LOG.warning('timing cache %s is corrupt or from another GPU; starting a new one', path)
        config.set_timing_cache(config.create_timing_cache(b''), ignore_mismatch=False)


def save_timing_cache(config, path):
    """Write the build's timing cache to ``path`` (a warning, not an error, if not writable)."""
    if path is None:
        return
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, bytes(config.get_timing_cache().serialize()))
    except OSError as error:
        LOG.warning('could not write the timing cache %s (%s)', path, error)


class CalibrationFeed:
    """
    Input buffers for int8 calibration, filled from consecutive frames.

    A graph with k inputs sees a sliding window of k consecutive frames, in input order: the
    depth and feature graphs see every frame, the pose graph every (previous, current) pair.
    Errors are kept in ``error`` rather than raised, because TensorRT swallows exceptions
    raised inside the calibrator; :func:`build_engine` raises them after the build.
    """

    def __init__(self, inputs, frames, cache_path, device):
        """
        Allocate one buffer per input.

        :param inputs: {input name: shape}, in the graph's input order.
        :param frames: iterable of 1 x 3 x H x W float tensors in [0, 1], or None (cache only).
        :param cache_path: calibration cache file, or None.
        :param device: where the buffers live (CUDA for TensorRT).
        """
        self.shapes = dict(inputs)
        self.device = torch.device(device)
        self.buffers = {name: torch.empty(shape, device=device) for name, shape in inputs.items()}
        self.frames = iter(frames if frames is not None else ())
        self.cache_path = None if cache_path is None else Path(cache_path)
        self.window = []
        self.frames_seen = 0
        self.batches = 0
        self.error = ''

    def next_pointers(self, names):
        """
        Fill the buffers with the next window of frames.

        :param names: input names in the order TensorRT wants the pointers.
        :return: the buffers' device pointers in that order, or None when the frames are used
            up or a frame is unusable (see ``error``).
        """
        try:
            window = self.next_window()
        except ValueError as error:
            self.error = str(error)
            return None
        if window is None:
            if self.batches == 0 and not self.error:
                self.error = 'no calibration frames were given'
            return None
        for buffer, frame in zip(self.buffers.values(), window):
            buffer.copy_(frame)
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)  # TensorRT reads the buffers on its own stream
        self.batches += 1
        return [self.buffers[name].data_ptr() for name in names]

    def next_window(self):
        """Return the next len(inputs) consecutive checked frames, or None when they run out."""
        while True:
            frame = next(self.frames, None)
            if frame is None:
                return None
            self.window = (self.window + [self.checked(frame)])[-len(self.shapes):]
            if len(self.window) == len(self.shapes):
                return self.window

    def checked(self, frame):
        """Return ``frame`` if it is a float image of the input shape in [0, 1], else raise."""
        index, self.frames_seen = self.frames_seen, self.frames_seen + 1
        shape = next(iter(self.shapes.values()))
        if tuple(frame.shape) != tuple(shape) or not frame.is_floating_point():
            raise ValueError(f'calibration frame {index} is a {frame.dtype} tensor of shape '
                             f'{tuple(frame.shape)}; the graph expects float {shape}')
        low, high = float(frame.min()), float(frame.max())
        if low < 0 or high > 1:
            raise ValueError(f'calibration frame {index} has values in [{low}, {high}]; '
                             'frames must be RGB in [0, 1] (divide 8-bit images by 255)')
        return frame

    def read_cache(self):
        """Return the calibration cache file's bytes, or None to calibrate from the frames."""
        if self.cache_path is None or not self.cache_path.is_file():
            return None
        LOG.info('using the int8 calibration cache %s', self.cache_path)
        return self.cache_path.read_bytes()

    def write_cache(self, cache):
        """Keep the scales TensorRT computed (``cache``: any buffer) in the cache file."""
        if self.cache_path is None:
            return
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.cache_path, bytes(cache))
        except OSError as error:
            LOG.warning('could not write the calibration cache %s (%s)', self.cache_path, error)


def entropy_calibrator(trt, feed):
    """
    Wrap a feed in TensorRT's entropy calibrator interface.

    :param trt: the tensorrt module.
    :param feed: a :class:`CalibrationFeed`.
    :return: a ``trt.IInt8EntropyCalibrator2`` answering from ``feed``.
    """

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        """TensorRT's calibrator callbacks, answered by a CalibrationFeed."""

        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)  # pybind11 needs the explicit call
            self.feed = feed

        def get_batch_size(self):
            """Batch size 1: the graphs have static 1 x 3 x H x W inputs."""
            return 1

        def get_batch(self, names):
            """Device pointers of the next batch for the inputs ``names``; None when done."""
            return self.feed.next_pointers(names)

        def read_calibration_cache(self):
            """Return the cached scales, or None to calibrate from the frames."""
            return self.feed.read_cache()

        def write_calibration_cache(self, cache):
            """Store the scales TensorRT computed (``cache``: a memoryview)."""
            self.feed.write_cache(cache)

    return EntropyCalibrator()
