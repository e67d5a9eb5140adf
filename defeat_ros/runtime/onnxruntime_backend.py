"""ONNX Runtime backend: the default on machines without a GPU."""

import logging

from defeat_ros.nets.model_dir import read_config
from defeat_ros.runtime.onnx_export import check_onnx, export_onnx, INPUT_NAMES, onnx_path
from defeat_ros.runtime.shapes import check_image
import onnxruntime as ort
import torch

LOG = logging.getLogger(__name__)


def make_session(path, threads=0):
    """Open an ONNX Runtime CPU session, fully optimised; threads 0 = ORT's default."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])


def ensure_onnx(model_dir, graph, config):
    """Path of a valid ONNX file for ``graph``: exported anew when missing, stale or corrupt."""
    path = onnx_path(model_dir, graph)
    if path.is_file():
        try:
            check_onnx(path, config, model_dir)
            return path
        except ValueError as error:
            LOG.warning('%s; exporting it again', error)
    export_onnx(model_dir, graphs=(graph,))
    return path


class OnnxRuntimeBackend:
    """Depth, features and pose from the model's ONNX files on the CPU."""

    name = 'onnxruntime'

    def __init__(self, model_dir, threads=0):
        """Open (exporting first if needed) the three graphs of ``model_dir``."""
        self.config = read_config(model_dir)
        self.sessions = {graph: make_session(ensure_onnx(model_dir, graph, self.config), threads)
                         for graph in INPUT_NAMES}

    def run(self, graph, *images):
        """Run ``graph`` on 1 x 3 x H x W images; returns its single output as a tensor."""
        feeds = {}
        for name, image in zip(INPUT_NAMES[graph], images):
            check_image(image, self.config)
            feeds[name] = image.detach().float().cpu().contiguous().numpy()
        return torch.from_numpy(self.sessions[graph].run(None, feeds)[0])

    def depth(self, image):
        """Image 1 x 3 x H x W in [0, 1] -> depth 1 x 1 x H x W (m)."""
        return self.run('depth', image)

    def features(self, image):
        """Image 1 x 3 x H x W -> features 1 x n x H x W."""
        return self.run('features', image)

    def pose(self, previous, current):
        """Two images -> T_previous_current 1 x 4 x 4."""
        return self.run('pose', previous, current)
