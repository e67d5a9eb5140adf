"""ONNX Runtime int8 static quantisation of the exported graphs, calibrated on real frames."""

from defeat_ros.nets.model_dir import read_config
from defeat_ros.runtime.calibration import frames_digest
from defeat_ros.runtime.onnx_export import (check_onnx, ensure_onnx, file_digest, INPUT_NAMES,
                                            int8_path, INT8_VERSION)
import onnx
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, quantize_static,
                                      QuantType)
from onnxruntime.quantization.shape_inference import quant_pre_process


class FrameReader(CalibrationDataReader):
    """Feeds calibration frames (1 x 3 x H x W tensors) to a graph's inputs."""

    def __init__(self, graph, frames):
        """Pose gets consecutive pairs; depth and features single frames."""
        names = INPUT_NAMES[graph]
        arrays = [frame.numpy() for frame in frames]
        if len(names) == 2:
            feeds = [dict(zip(names, pair)) for pair in zip(arrays[:-1], arrays[1:])]
        else:
            feeds = [{names[0]: array} for array in arrays]
        self.feeds = iter(feeds)

    def get_next(self):
        """Return the next feed dictionary, or None when done."""
        return next(self.feeds, None)


WEIGHTED_OPS = ('Conv', 'ConvTranspose', 'Gemm', 'MatMul')
"""ONNX operators with weights: the layers :func:`float_layers` counts."""
FLOAT_HEAD_DEPTH = 2
"""Weighted layers from the input that int8 leaves in float (:func:`float_head`)."""


def float_layers(graph):
    """
    Names of the nodes int8 leaves in float: :func:`float_head` and :func:`float_tail`.

    :param graph: an onnx GraphProto, its nodes in topological order (as ONNX requires).
    :return: node names, in graph order.
    """
    float_nodes = set(float_head(graph)) | set(float_tail(graph))
    return [node.name for node in graph.node if node.name in float_nodes]


def float_head(graph, depth=FLOAT_HEAD_DEPTH):
    """
    Names of the weighted layers at most ``depth`` weighted layers from the graph's inputs.

    For a ResNet encoder: the stem convolution and the first residual block's first
    convolution, of every encoder in the graph. They see the image and the stem's full-size
    activations; quantised, they cost the trained ``fast`` architecture (``pose_stride`` 2,
    ``decoder`` fast) 2.1 % depth AbsRel against fp32 under OpenVINO int8, in float 0.3 %
    (16 calibration frames; a per-layer sweep found no other layer that mattered).

    :param graph: an onnx GraphProto, its nodes in topological order.
    :return: node names, in graph order.
    """
    produced_at = {}  # tensor name -> weighted layers on the longest path from an input
    head = []
    for node in graph.node:
        reached = max((produced_at.get(name, 0) for name in node.input), default=0)
        if node.op_type in WEIGHTED_OPS:
            reached += 1
            if reached <= depth:
                head.append(node.name)
        for name in node.output:
            produced_at[name] = reached
    return head


def float_tail(graph):
    """
    Names of a graph's last weighted layers and the nodes after them.

    They map the last decoder features to the outputs: the depth head's convolution, sigmoid
    and disparity to depth, the feature head and its normalisation, the pose head and its
    scaling. Quantised, the depth output had 256 levels between ``min_depth`` and ``max_depth``
    and the sigmoid's input an 8-bit step: on the trained default model int8 depth then differed
    from fp32 by 2.5 % per pixel (mean absolute log ratio, 3.9 % beyond 40 m); with the tail in
    float by 1.5 % (0.8 % beyond 40 m).

    :param graph: an onnx GraphProto, its nodes in topological order.
    :return: node names, in graph order.
    """
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    weights_follow = set()
    for node in reversed(graph.node):
        if any(after.op_type in WEIGHTED_OPS or after.name in weights_follow
               for output in node.output for after in consumers.get(output, [])):
            weights_follow.add(node.name)
    return [node.name for node in graph.node if node.name not in weights_follow]


INT8_FORMATS = {'qoperator': QuantFormat.QOperator, 'qdq': QuantFormat.QDQ,
                'tensorrt': QuantFormat.QDQ, 'openvino': QuantFormat.QDQ}
"""
int8 graph formats: 'qoperator', ONNX Runtime's quantised operators (QLinearConv...); 'qdq',
QuantizeLinear/DequantizeLinear pairs around float operators, which ONNX Runtime fuses when it
loads the graph (``benchmarks/int8_formats.py`` measures both; they share ONNX Runtime's file).
'tensorrt', Q/DQ pairs with symmetric int8 activations and weights (zero points 0) and float
biases, the only int8 TensorRT's strongly typed networks take; 'openvino', Q/DQ pairs with uint8
activations, which OpenVINO turns into its int8 kernels. Each has a file of its own
(``onnx_export.int8_path``)."""
ONNXRUNTIME_FORMATS = ('qoperator', 'qdq')
"""The formats ONNX Runtime's int8 backend reads (``<graph>.int8.onnx``)."""


def quantise_onnx(model_dir, frames, graphs=tuple(INPUT_NAMES), int8_format='qoperator',
                  per_channel=True):
    """
    Write the int8 graph of each of ``graphs``: static int8 weights and activations.

    ONNX Runtime's formats write ``<graph>.int8.onnx`` and 'openvino' ``<graph>.int8-openvino
    .onnx``, with uint8 activations; 'tensorrt' writes ``<graph>.int8-tensorrt.onnx``,
    symmetric int8 throughout. Each file records the digest of its calibration frames
    (``calibration``) and of the fp32 graph it came from.

    :param frames: list of at least 2 calibration frames, 1 x 3 x H x W in [0, 1], from the
        deployment camera (a dataset, a bag or the synthetic world).
    :param int8_format: one of :data:`INT8_FORMATS`.
    :param per_channel: one weight scale per output channel (else per tensor).
    :return: {graph: path}.
    """
    if int8_format not in INT8_FORMATS:
        raise ValueError(f'int8_format must be one of {sorted(INT8_FORMATS)}, '
                         f'got {int8_format!r}')
    if len(frames) < 2:
        raise ValueError('int8 calibration needs at least 2 frames')
    symmetric = int8_format == 'tensorrt'
    activations = QuantType.QInt8 if symmetric else QuantType.QUInt8
    # TensorRT keeps biases in float: no int32 bias Q/DQ in its graphs.
    options = ({'ActivationSymmetric': True, 'WeightSymmetric': True, 'QuantizeBias': False}
               if symmetric else {})
    config = read_config(model_dir)
    paths = {}
    for graph in graphs:
        source = ensure_onnx(model_dir, graph, config)
        target = int8_path(model_dir, graph, int8_format)
        target.parent.mkdir(parents=True, exist_ok=True)
        prepared = target.with_suffix('.pre.onnx')
        quant_pre_process(str(source), str(prepared))
        quantize_static(str(prepared), str(target), FrameReader(graph, frames),
                        quant_format=INT8_FORMATS[int8_format], per_channel=per_channel,
                        activation_type=activations, weight_type=QuantType.QInt8,
                        nodes_to_exclude=float_layers(onnx.load(str(prepared)).graph),
                        extra_options=options)
        prepared.unlink()
        proto = onnx.load(str(target))
        props = {p.key: p.value for p in onnx.load(str(source)).metadata_props}
        props['fp32_sha256'] = file_digest(source)
        props['int8_format'] = f"{int8_format}, per-{'channel' if per_channel else 'tensor'}"
        props['calibration'] = frames_digest(frames)
        props['int8_version'] = INT8_VERSION
        onnx.helper.set_model_props(proto, props)
        onnx.save(proto, str(target))
        check_onnx(target, config, model_dir)
        paths[graph] = target
    return paths
