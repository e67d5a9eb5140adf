"""ONNX Runtime int8 static quantisation of the exported graphs, calibrated on real frames."""

from defeat_ros.nets.model_dir import read_config
from defeat_ros.runtime.onnx_export import (check_onnx, ensure_onnx, file_digest, INPUT_NAMES,
                                            onnx_path)
import onnx
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, quantize_static,
                                      QuantType)
from onnxruntime.quantization.shape_inference import quant_pre_process


def int8_path(model_dir, graph):
    """Where the int8 version of ``graph`` lives, beside its fp32 ONNX file."""
    return onnx_path(model_dir, graph).with_suffix('.int8.onnx')


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


def quantise_onnx(model_dir, frames, graphs=tuple(INPUT_NAMES)):
    """
    Write ``<graph>.int8.onnx`` (QDQ, per-channel int8 weights, uint8 activations) per graph.

    :param frames: list of at least 2 calibration frames, 1 x 3 x H x W in [0, 1], from the
        deployment camera (a dataset, a bag or the synthetic world).
    :return: {graph: path}.
    """
    if len(frames) < 2:
        raise ValueError('int8 calibration needs at least 2 frames')
    config = read_config(model_dir)
    paths = {}
    for graph in graphs:
        source = ensure_onnx(model_dir, graph, config)
        target = int8_path(model_dir, graph)
        target.parent.mkdir(parents=True, exist_ok=True)
        prepared = target.with_suffix('.pre.onnx')
        quant_pre_process(str(source), str(prepared))
        quantize_static(str(prepared), str(target), FrameReader(graph, frames),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        prepared.unlink()
        proto = onnx.load(str(target))
        props = {p.key: p.value for p in onnx.load(str(source)).metadata_props}
        props['fp32_sha256'] = file_digest(source)
        onnx.helper.set_model_props(proto, props)
        onnx.save(proto, str(target))
        check_onnx(target, config, model_dir)
        paths[graph] = target
    return paths
