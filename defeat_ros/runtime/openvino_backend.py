"""
OpenVINO backend: the exported ONNX graphs compiled by OpenVINO's CPU plugin.

OpenVINO runs bf16 on the CPU's AMX or AVX-512 BF16 units and int8 on AMX or VNNI, through its
own kernels (oneDNN), where ONNX Runtime's CPU provider runs fp32 and int8 only. Precisions:

* 'fp32': the fp32 graphs, computed in fp32;
* 'bf16': the same graphs, computed in bf16 where the CPU has native bf16 (OpenVINO's inference
  precision hint; elsewhere OpenVINO keeps fp32);
* 'int8': ``<graph>.int8-openvino.onnx``, Q/DQ graphs with per-channel int8 weights and uint8
  activations (``quantise.quantise_onnx(..., int8_format='openvino')``, written by
  ``defeat-ros export --int8``); the layers quantisation leaves in float (each encoder's first
  two, the heads and the depth mapping: ``quantise.float_layers``) run in bf16 where the CPU
  has native bf16, else in fp32. For the ``fast`` architecture on an AMD EPYC (AVX-512 BF16)
  bf16 there ran the pipeline at 640x192 in 64-67 ms instead of 75-85 ms, and changed the
  trained model's depth AbsRel against fp32 by +0.90 % instead of +0.72 %
  (docs/deployment.md).

Compiled graphs are cached in ``openvino_cache/`` of the model's derived-files directory
(OpenVINO keys each entry by the graph, the settings, the CPU and its own version): a later start
loads them in a fraction of the compile time.

OpenVINO is optional: where it is not installed the backend says so, and ``auto`` leaves it out.

Every backend of a process compiles through one OpenVINO ``Core``, kept until the process ends
(:func:`shared_core`): each Core's CPU plugin gives the thread that creates it a signal stack of
its own and unmaps that stack when the Core goes. Cores released in the order they were made
leave the thread's signal stack on unmapped memory, and the thread's next signal handled by
Python (SIGINT, SIGTERM, SIGCHLD) then kills the process with a segmentation fault that
nothing can report.
"""

import functools
import logging

from defeat_ros.nets.model_dir import read_config
from defeat_ros.runtime.derived_files import derived_dir
from defeat_ros.runtime.graph_backend import GraphBackend, numpy_inputs
from defeat_ros.runtime.onnx_export import ensure_onnx, INPUT_NAMES, open_int8, OUTPUT_NAMES
from defeat_ros.runtime.shapes import check_image

LOG = logging.getLogger(__name__)
CACHE_DIR = 'openvino_cache'
PRECISIONS = {'fp32': 'f32', 'bf16': 'bf16', 'int8': 'bf16'}
"""Backend precision -> OpenVINO's inference precision hint (for int8: of the float layers)."""


def import_openvino():
    """
    Import OpenVINO.

    :return: the ``openvino`` module.
    :raise RuntimeError: saying so when it is not installed.
    """
    try:
        import openvino
    except ImportError as error:
        raise RuntimeError(f'OpenVINO is not installed: import openvino failed ({error}); '
                           'pip install openvino') from None
    return openvino


def openvino_available():
    """Return (True, version) when OpenVINO can be imported, else (False, why not)."""
    try:
        return True, import_openvino().__version__
    except RuntimeError as error:
        return False, str(error)


@functools.cache
def shared_core():
    """Return the process's one OpenVINO ``Core`` (see the module's docstring for why one)."""
    return import_openvino().Core()


def model_opener(precision, threads, cache_dir):
    """
    Return ``path -> (compiled model, metadata, {input: shape})`` for ``onnx_export.ensure_onnx``.

    Reading the model is the file's check: OpenVINO refuses a corrupt file (a ValueError here),
    and the model's runtime information holds the ONNX metadata that ties it to the weights.
    Compiled graphs are cached in ``cache_dir`` (None: compiled every start).
    """
    settings = {'PERFORMANCE_HINT': 'LATENCY', 'INFERENCE_PRECISION_HINT': PRECISIONS[precision]}
    if cache_dir is not None:
        settings['CACHE_DIR'] = str(cache_dir)
    if threads:
        settings['INFERENCE_NUM_THREADS'] = threads

    core = shared_core()

    def open_file(path):
        try:
            model = core.read_model(str(path))
        except Exception as error:  # OpenVINO raises its own types for bad files
            raise ValueError(f'{path} is not a valid ONNX model: {error}') from error
        info = model.get_rt_info()  # the ONNX file's metadata is its 'framework' entry
        framework = info['framework'] if 'framework' in list(info.keys()) else {}
        metadata = {key: value.astype(str) for key, value in framework.items()}
        inputs = {port.get_any_name(): list(port.get_partial_shape().to_shape())
                  for port in model.inputs}
        return core.compile_model(model, 'CPU', settings), metadata, inputs
    return open_file


class OpenVinoBackend(GraphBackend):
    """
    Depth, features and pose from the model's ONNX files, compiled by OpenVINO for the CPU.

    Inputs are 1 x 3 x H x W float images in [0, 1] at the model's resolution; outputs are
    float32 numpy arrays (tensors for tensor inputs, :class:`GraphBackend`).
    """

    def __init__(self, model_dir, threads=0, precision='fp32'):
        """
        Compile the graphs of ``model_dir``.

        :param threads: OpenVINO inference threads (0: its default, every core).
        :param precision: one of :data:`PRECISIONS`.
        :raise RuntimeError: when OpenVINO is not installed.
        :raise FileNotFoundError: 'int8' without the model's OpenVINO int8 graphs.
        """
        if precision not in PRECISIONS:
            raise ValueError(f'OpenVINO precision must be one of {tuple(PRECISIONS)}, '
                             f'got {precision!r}')
        self.config = read_config(model_dir)
        open_file = model_opener(precision, threads,
                                 compile_cache(derived_dir(model_dir) / CACHE_DIR))
        self.requests = {}
        for graph in INPUT_NAMES:
            if precision == 'int8':
                compiled = open_int8(model_dir, graph, self.config, open_file, 'openvino')
            else:
                compiled = ensure_onnx(model_dir, graph, self.config, open_file)
            self.requests[graph] = (compiled, compiled.create_infer_request())
        self.name = f'openvino-{precision}'

    def run_graph(self, graph, *images):
        """Run ``graph`` on 1 x 3 x H x W images; its outputs as float32 numpy arrays, a tuple."""
        for image in images:
            check_image(image, self.config)
        feeds = dict(zip(INPUT_NAMES[graph], numpy_inputs(images)))
        compiled, request = self.requests[graph]
        results = request.infer(feeds)  # copies the outputs out of the request's buffers
        return tuple(results[compiled.output(name)] for name in OUTPUT_NAMES[graph])


def compile_cache(folder):
    """Return ``folder``, made for OpenVINO's compiled graphs; None where it cannot be made."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        LOG.warning('OpenVINO compiles every start: no cache folder %s (%s)', folder, error)
        return None
    return folder
