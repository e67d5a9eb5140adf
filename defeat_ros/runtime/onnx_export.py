"""
Export a model directory's networks to ONNX with static shapes, and check the files.

``onnx`` is imported only to export or fully check a file: its import alone took 2 s of a
node's start-up on a 2-core CPU, and a backend that opens a current file needs none of it
(:func:`ensure_onnx`'s ``open_file``).
"""

import functools
import hashlib
import logging
from pathlib import Path
import warnings

from defeat_ros.nets.model_dir import WEIGHTS_FILE
from defeat_ros.runtime.derived_files import derived_dir
from defeat_ros.runtime.graph_backend import GRAPHS

LOG = logging.getLogger(__name__)
OPSET = 17
INPUT_NAMES = {'depth': ['image'], 'features': ['image'], 'depth_features': ['image'],
               'pose': ['previous', 'current']}
OUTPUT_NAMES = {'depth': ['depth'], 'features': ['features'],
                'depth_features': ['depth', 'features'], 'pose': ['motion']}
GRAPH_FORMAT = '2'
"""
Version of what the graphs compute, recorded in every file: '2' since the pose graph outputs
the motion 1 x 6 rather than a 4 x 4 transform. A file of another version is exported again."""
INT8_VERSION = '3'
"""
Version of the int8 quantisation, recorded in every int8 file: '2' since the last convolutions and
the nodes after them stay in float (``quantise.float_tail``), '3' since the first two
convolutions of each encoder do too (``quantise.float_head``). An int8 file of another version is
stale: it must be quantised again."""


EXPORT_PRECISIONS = ('fp32', 'fp16')
"""
Precisions of the exported graphs. fp16 graphs (``<graph>.fp16.onnx``) are for strongly typed
TensorRT: fp16 weights and activations, inputs and depth/features outputs, with the pose
graph's translation scaling and its motion output in fp32."""


def onnx_path(model_dir, graph, variant='fp32'):
    """
    Where an ONNX file of ``graph`` lives: beside the weights (see derived_files).

    :param variant: 'fp32', the exported graph ``<graph>.onnx``; else the infix of another
        version of it, ``<graph>.<variant>.onnx`` (an fp16 export, an int8 file).
    """
    suffix = '' if variant == 'fp32' else f'.{variant}'
    return derived_dir(model_dir) / f'{graph}{suffix}.onnx'


INT8_FILES = {'qoperator': 'int8', 'qdq': 'int8', 'tensorrt': 'int8-tensorrt',
              'openvino': 'int8-openvino'}
"""
int8 format (``quantise.INT8_FORMATS``) -> the infix of its files: ONNX Runtime's two formats
share ``<graph>.int8.onnx``; TensorRT and OpenVINO each read files of their own."""


def int8_path(model_dir, graph, int8_format='qoperator'):
    """Where the int8 version of ``graph`` in ``int8_format`` lives, beside its fp32 file."""
    return onnx_path(model_dir, graph, INT8_FILES[int8_format])


def open_int8(model_dir, graph, config, open_file, int8_format='qoperator'):
    """
    Open the graph's int8 file with ``open_file`` (as for :func:`ensure_onnx`) and check it.

    :return: the handle ``open_file`` made.
    :raise FileNotFoundError: when the file is missing; ValueError when it is stale; both say
        how to make it.
    """
    path = int8_path(model_dir, graph, int8_format)
    command = f'(defeat-ros export {model_dir} --int8)'
    if not path.is_file():
        raise FileNotFoundError(f'{path} is missing: quantise the model first {command}')
    handle, metadata, inputs = open_file(path)
    try:
        check_identity(path, metadata, inputs, config, model_dir)
    except ValueError as error:
        raise ValueError(f'{error}; quantise the model again {command}') from None
    return handle


def has_int8(model_dir, int8_format='qoperator'):
    """Whether every graph of ``model_dir`` has an int8 file (``defeat-ros export --int8``)."""
    return all(int8_path(model_dir, graph, int8_format).is_file() for graph in GRAPHS)


def export_onnx(model_dir, graphs=GRAPHS, opset=OPSET, precision='fp32'):
    """
    Export ``graphs`` of the model in ``model_dir`` to ``<model_dir>/<graph>.onnx``.

    ``precision`` 'fp16' exports ``<graph>.fp16.onnx`` instead (:data:`EXPORT_PRECISIONS`).

    A read-only model directory exports to its folder under the user's cache instead
    (:func:`~defeat_ros.runtime.derived_files.derived_dir`).

    Inputs are 1 x 3 x H x W at the model's configured resolution (static shapes, as TensorRT
    engines and int8 calibration want). Each file is verified by :func:`check_onnx`.
    Returns {graph: path}.
    """
    from defeat_ros.nets import load_model
    from defeat_ros.runtime.export_graphs import graph_modules
    import onnx
    import torch
    if precision not in EXPORT_PRECISIONS:
        raise ValueError(f'precision must be one of {EXPORT_PRECISIONS}, got {precision!r}')
    dtype = {'fp32': torch.float32, 'fp16': torch.float16}[precision]
    model = load_model(model_dir).eval().to(dtype)
    weights_sha256 = weights_digest(model_dir)
    modules = graph_modules(model)
    cfg = model.config
    example = torch.rand(1, 3, cfg.height, cfg.width).to(dtype)
    paths = {}
    for graph in graphs:
        inputs = (example,) if graph != 'pose' else (example, example.flip(-1))
        path = onnx_path(model_dir, graph, precision)
        path.parent.mkdir(parents=True, exist_ok=True)
        with torch.no_grad(), warnings.catch_warnings():
            # The exporter's constant-folding notes concern its own optimisation, not the graph.
            warnings.filterwarnings('ignore', message='Constant folding', category=UserWarning)
            outputs = modules[graph](*inputs)
            torch.onnx.export(modules[graph], inputs, str(path), opset_version=opset,
                              input_names=INPUT_NAMES[graph],
                              output_names=OUTPUT_NAMES[graph], dynamo=False)
        proto = onnx.load(str(path))
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        for value_info, output in zip(proto.graph.output, outputs):
            set_static_shape(value_info, output.shape)
        onnx.helper.set_model_props(proto, {'weights_sha256': weights_sha256, 'graph': graph,
                                            'graph_format': GRAPH_FORMAT})
        onnx.save(proto, str(path))
        check_onnx(path, cfg, model_dir)
        paths[graph] = path
    return paths


def set_static_shape(value_info, shape):
    """Declare a graph input or output with the concrete ``shape`` (no symbolic dims)."""
    dims = value_info.type.tensor_type.shape.dim
    del dims[:]
    for size in shape:
        dims.add().dim_value = int(size)


def check_onnx(path, config, model_dir=None):
    """
    Validate an exported graph: checker, shape inference and the model's static input size.

    With ``model_dir``, also check that the graph was exported from that directory's current
    weights. Raises ValueError naming the file when it is corrupt, made for another resolution
    or stale.
    """
    import onnx
    try:
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
        proto = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    except Exception as error:  # onnx raises several unrelated types for bad files
        raise ValueError(f'{path} is not a valid ONNX model: {error}') from error
    for tensor in proto.graph.output:
        if any(d.dim_value <= 0 for d in tensor.type.tensor_type.shape.dim):
            raise ValueError(f'{path}: output {tensor.name} has no static shape')
    inputs = {t.name: [d.dim_value for d in t.type.tensor_type.shape.dim]
              for t in proto.graph.input}
    check_identity(path, {p.key: p.value for p in proto.metadata_props}, inputs, config,
                   model_dir)
    return proto


def check_identity(path, metadata, inputs, config, model_dir=None):
    """
    Check that a graph fits the model and this package: format, input sizes, weights.

    :param metadata: the file's metadata properties, a dict.
    :param inputs: input name -> shape (list of ints).
    :raises ValueError: naming the file when it was made by another version of the package
        (another graph format), for another resolution or (with ``model_dir``) other weights.
    """
    if metadata.get('graph_format') != GRAPH_FORMAT:
        raise ValueError(f'{path} has graph format {metadata.get("graph_format")!r}, this '
                         f'version of defeat_ros reads format {GRAPH_FORMAT!r}')
    if 'int8_format' in metadata and metadata.get('int8_version') != INT8_VERSION:
        raise ValueError(f'{path} was quantised by another version of defeat_ros (int8 version '
                         f'{metadata.get("int8_version")!r}, this one makes {INT8_VERSION!r})')
    expected = [1, 3, config.height, config.width]
    for name, dims in inputs.items():
        if list(dims) != expected:
            raise ValueError(f'{path}: input {name} has shape {list(dims)}, the model '
                             f'expects {expected}; export it again for this model')
    if model_dir is not None:
        if metadata.get('weights_sha256') != weights_digest(model_dir):
            raise ValueError(f'{path} was exported from other weights than {model_dir}')


def weights_digest(model_dir):
    """SHA-256 of the model directory's weights file (hashed once per version: file_digest)."""
    return file_digest(Path(model_dir) / WEIGHTS_FILE)


def file_digest(path):
    """
    SHA-256 of a file, hashed once per version of it (inode, size and modification time).

    Keys derived graphs and engine caches to the exact file they come from. They are checked
    at every start (four graphs, int8 ones, engines), and one hash of a paper-size weights or
    ONNX file takes a noticeable part of a second.
    """
    path = Path(path).resolve()
    stat = path.stat()
    return _digest_of_version(str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _digest_of_version(path, inode, size, mtime_ns):
    """SHA-256 of ``path`` as of its ``inode``, ``size`` and ``mtime_ns`` (the cache key)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as stream:
        for block in iter(lambda: stream.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def ensure_onnx(model_dir, graph, config, open_file=None, precision='fp32'):
    """
    Path of a valid ONNX file for ``graph``: exported anew when missing, stale or corrupt.

    ``precision`` 'fp16' is the graph's fp16 export (:data:`EXPORT_PRECISIONS`).

    A current file shipped beside the weights is used even when the directory is read-only, so
    an installed model with its exports is not exported again into the cache.

    :param open_file: ``path -> (handle, metadata dict, {input: shape})``, raising ValueError
        for a file it cannot open (an ONNX Runtime session, for instance). Each file is then
        opened with it and checked by :func:`check_identity` instead of parsed and checked
        with ``onnx``, and the handle is returned instead of the path.
    """
    def usable(candidate):
        if open_file is None:
            check_onnx(candidate, config, model_dir)
            return candidate
        handle, metadata, inputs = open_file(candidate)
        check_identity(candidate, metadata, inputs, config, model_dir)
        return handle

    path = onnx_path(model_dir, graph, precision)
    for candidate in dict.fromkeys([Path(model_dir) / path.name, path]):
        if candidate.is_file():
            try:
                return usable(candidate)
            except ValueError as error:
                LOG.warning('%s; exporting it again', error)
    export_onnx(model_dir, graphs=(graph,), precision=precision)  # checks what it writes
    return path if open_file is None else usable(path)
