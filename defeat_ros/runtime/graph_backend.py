"""The interface every backend offers: depth, features and pose through one ``run``."""


class GraphBackend:
    """
    Base of the backends: subclasses implement ``run(graph, *images)`` for the exported graphs.

    Inputs are 1 x 3 x H x W float images in [0, 1] at the model's resolution.
    """

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
        """Two images -> T_previous_current 1 x 4 x 4."""
        return self.run('pose', previous, current)[0]
