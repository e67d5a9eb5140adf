"""The interface every backend offers: depth, features and pose through one ``run``."""

from concurrent.futures import ThreadPoolExecutor

from defeat_ros.runtime.export_graphs import pose_from_motion


class GraphBackend:
    """
    Base of the backends: they implement ``run(graph, *images)`` and set ``config``.

    ``run`` runs an exported graph; ``config`` is the model's ModelConfig.

    Inputs are 1 x 3 x H x W float images in [0, 1] at the model's resolution. A backend that
    sets ``concurrent_pose`` runs the pose graph of :meth:`step` on a thread of its own, beside
    depth and features (ONNX Runtime releases the GIL while a graph runs).
    """

    concurrent_pose = False
    _pose_thread = None

    def run(self, graph, *images):
        """
        Run an exported graph (``export_graphs.GRAPHS``) on its input images.

        :return: the graph's outputs, a tuple in the order of ``onnx_export.OUTPUT_NAMES``.
        """
        raise NotImplementedError

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
            1 x 4 x 4 or None).
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
