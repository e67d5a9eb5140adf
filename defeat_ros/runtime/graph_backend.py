"""
The interface every backend offers: depth, features and pose through one ``run``.

Images and outputs are numpy arrays or torch tensors, the outputs of the kind of the images: the
camera step hands numpy arrays to ONNX Runtime and OpenVINO and never imports torch; training,
export and the PyTorch and TensorRT backends work in tensors. Each backend converts at its
boundary (:func:`numpy_inputs`, :func:`outputs_like`), and the pose maths composes either kind.
"""

from concurrent.futures import ThreadPoolExecutor

from defeat_ros.geometry import array_namespace, motion_to_transform
from defeat_ros.nets.config import pose_inverted
import numpy as np

GRAPHS = ('depth', 'features', 'depth_features', 'pose')
"""Names of the exported graphs (``export_graphs``), also their ONNX file stems."""


def pose_from_motion(motion, config):
    """
    Compose the pose graph's output into T_previous_current.

    :param motion: 1 x 6 (or B x 6), the pose graph's output (``export_graphs.PoseGraph``), a
        numpy array or a tensor of any float dtype and device.
    :param config: the model's ModelConfig (whether its PoseNet's motion is inverted).
    :return: T_previous_current 1 x 4 x 4, float32, of the motion's kind (and device).
    """
    return motion_to_transform(motion, pose_inverted(config, source_is_earlier=True))


def numpy_inputs(images):
    """Images (arrays or tensors on any device) as contiguous float32 numpy arrays."""
    return [np.ascontiguousarray(image if isinstance(image, np.ndarray)
                                 else image.detach().float().cpu().numpy(), dtype=np.float32)
            for image in images]


def outputs_like(outputs, image):
    """
    Return a graph's outputs (arrays or tensors) as the kind of ``image``: a tuple.

    numpy arrays for a numpy image, else float32 tensors (on the device they were computed on).
    """
    if isinstance(image, np.ndarray):
        return tuple(output if isinstance(output, np.ndarray)
                     else output.detach().float().cpu().numpy() for output in outputs)
    torch = array_namespace(image)
    return tuple(torch.from_numpy(output) if isinstance(output, np.ndarray) else output
                 for output in outputs)


class GraphBackend:
    """
    Base of the backends: they implement ``run_graph(graph, *images)`` and set ``config``.

    ``run_graph`` runs an exported graph on images of the backend's own kind or any other, and
    returns its outputs in either kind; :meth:`run` hands them back in the kind of the images.
    ``config`` is the model's ModelConfig.

    Inputs are 1 x 3 x H x W float images in [0, 1] at the model's resolution, numpy arrays or
    tensors. A backend that sets ``concurrent_pose`` runs the pose graph of :meth:`step` on a
    thread of its own, beside depth and features (ONNX Runtime releases the GIL while a graph
    runs).
    """

    concurrent_pose = False
    _pose_thread = None

    def run_graph(self, graph, *images):
        """Run an exported graph on its input images: its outputs, arrays or tensors, a tuple."""
        raise NotImplementedError

    def run(self, graph, *images):
        """
        Run an exported graph (:data:`GRAPHS`) on its input images.

        :return: the graph's outputs, a tuple in the order of ``onnx_export.OUTPUT_NAMES``, of
            the kind of the images (numpy arrays or tensors).
        """
        return outputs_like(self.run_graph(graph, *images), images[0])

    def depth(self, image):
        """Image 1 x 3 x H x W in [0, 1] -> depth 1 x 1 x H x W (m)."""
        return self.run('depth', image)[0]

    def features(self, image):
        """Image 1 x 3 x H x W -> features 1 x n x H x W."""
        return self.run('features', image)[0]

    def depth_and_features(self, image):
        """Image 1 x 3 x H x W -> (depth 1 x 1 x H x W, features 1 x n x H x W) in one graph."""
        return self.run('depth_features', image)

    def pose(self, previous, current):
        """Two images -> T_previous_current 1 x 4 x 4, composed in fp32 from the graph's motion."""
        return pose_from_motion(self.run('pose', previous, current)[0], self.config)

    def step(self, image, previous=None, features=True):
        """
        Everything one camera frame needs: depth, features when asked, pose when ``previous``.

        :param image: 1 x 3 x H x W, the current frame.
        :param previous: 1 x 3 x H x W, the previous frame, or None (no pose).
        :param features: run the depth_features graph rather than depth alone.
        :return: (depth 1 x 1 x H x W, features 1 x n x H x W or None, T_previous_current
            1 x 4 x 4 or None), of the kind of ``image``.
        """
        pending = None
        if previous is not None and self.concurrent_pose:
            if self._pose_thread is None:
                self._pose_thread = ThreadPoolExecutor(1, thread_name_prefix='pose')
            pending = self._pose_thread.submit(self.pose, previous, image)
        depth, feature_maps = (self.depth_and_features(image) if features
                               else (self.depth(image), None))
        if pending is not None:
            transform = pending.result()
        else:
            transform = self.pose(previous, image) if previous is not None else None
        return depth, feature_maps, transform
