"""ONNX Runtime backend: the default on machines without a GPU."""

from defeat_ros.nets.model_dir import read_config
from defeat_ros.runtime.graph_backend import GraphBackend, numpy_inputs
from defeat_ros.runtime.onnx_export import ensure_onnx, INPUT_NAMES, open_int8, OUTPUT_NAMES
from defeat_ros.runtime.shapes import check_image
import onnxruntime as ort


def make_session(path, threads=0):
    """Open an ONNX Runtime CPU session, fully optimised; threads 0 = ORT's default."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    # Idle ORT threads otherwise busy-wait for the next run, starving the node's other threads
    # (and any PyTorch work) on small CPUs.
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    return ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])


def session_opener(threads):
    """
    Return ``path -> (session, metadata, {input: shape})`` for ``onnx_export.ensure_onnx``.

    Opening the session is the file's check: ONNX Runtime refuses a corrupt file (a ValueError
    here), and the session holds the metadata and input shapes that tie it to the model.
    """
    def open_file(path):
        try:
            session = make_session(path, threads)
        except Exception as error:  # ONNX Runtime raises its own types for bad files
            raise ValueError(f'{path} is not a valid ONNX model: {error}') from error
        inputs = {i.name: i.shape for i in session.get_inputs()}
        return session, session.get_modelmeta().custom_metadata_map, inputs
    return open_file


class OnnxRuntimeBackend(GraphBackend):
    """
    Depth, features and pose from the model's ONNX files on the CPU.

    ``precision`` 'fp32' uses (and exports when needed) ``<graph>.onnx``; 'int8' the statically
    quantised ``<graph>.int8.onnx`` made by :func:`defeat_ros.runtime.quantise.quantise_onnx`.
    ``concurrent_pose`` runs the pose graph on one thread of its own beside depth and features
    (:meth:`GraphBackend.step`).
    """

    def __init__(self, model_dir, threads=0, precision='fp32', concurrent_pose=False):
        """Open the graphs of ``model_dir``."""
        if precision not in ('fp32', 'int8'):
            raise ValueError(f"ONNX Runtime precision must be 'fp32' or 'int8', "
                             f'got {precision!r}')
        self.config = read_config(model_dir)
        self.concurrent_pose = concurrent_pose
        self.sessions = {}
        for graph in INPUT_NAMES:
            graph_threads = 1 if graph == 'pose' and concurrent_pose else threads
            self.sessions[graph] = (
                ensure_onnx(model_dir, graph, self.config, session_opener(graph_threads))
                if precision == 'fp32' else
                open_int8(model_dir, graph, self.config, session_opener(graph_threads)))
        self.name = ('onnxruntime' if precision == 'fp32' else 'onnxruntime-int8') + (
            '-concurrent' if concurrent_pose else '')

    def run_graph(self, graph, *images):
        """Run ``graph`` on 1 x 3 x H x W images; its outputs as float32 numpy arrays, a tuple."""
        for image in images:
            check_image(image, self.config)
        feeds = dict(zip(INPUT_NAMES[graph], numpy_inputs(images)))
        return tuple(self.sessions[graph].run(OUTPUT_NAMES[graph], feeds))
