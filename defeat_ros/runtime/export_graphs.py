"""
The three exported graphs: networks wrapped so that their outputs need no post-processing.

* ``DepthGraph``: image 1 x 3 x H x W RGB in [0, 1] -> depth 1 x 1 x H x W in metres.
* ``FeaturesGraph``: image -> features 1 x n x H x W, L2-normalised per pixel.
* ``DepthFeaturesGraph``: image -> (depth, features), one graph for a frame whose features
  are wanted too: a shared encoder (ModelConfig.shared_encoder) runs once, and the runtime
  schedules both decoders together.
* ``PoseGraph``: (previous, current) images -> motion 1 x 6, PoseNet's axis-angle (rad) and
  translation (m). :func:`~defeat_ros.runtime.graph_backend.pose_from_motion` composes it, in
  fp32 outside the graph, into
  T_previous_current 1 x 4 x 4, the current camera's pose in the previous camera's frame (maps
  current-frame points to the previous frame), so odometry chains as
  T_odom_current = T_odom_previous @ T_previous_current. Keeping the rotation maths out of the
  graph keeps it out of fp16 engines and int8 quantisation, where small rotations are lost.
"""

from torch import nn


class DepthGraph(nn.Module):
    """Metric depth at the network resolution."""

    def __init__(self, model):
        super().__init__()
        self.depth_net = model.depth_net

    def forward(self, image):
        """Image 1 x 3 x H x W -> depth 1 x 1 x H x W (m)."""
        return self.depth_net.depth(image)


class FeaturesGraph(nn.Module):
    """Dense unit-norm features at the network resolution."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image):
        """Image 1 x 3 x H x W -> features 1 x n x H x W."""
        return self.model.features(image)


class DepthFeaturesGraph(nn.Module):
    """Depth and features of one image in one graph."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image):
        """Image 1 x 3 x H x W -> (depth 1 x 1 x H x W, features 1 x n x H x W)."""
        return self.model.depth_and_features(image)


class PoseGraph(nn.Module):
    """Relative camera motion between consecutive frames, as PoseNet's 6-vector."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, previous, current):
        """Images 1 x 3 x H x W each -> motion 1 x 6 (see ``graph_backend.pose_from_motion``)."""
        # The current frame is the target and the previous one its earlier source.
        return self.model.relative_motion(current, previous, source_is_earlier=True)[0]


def graph_modules(model):
    """
    Wrap a DeFeatNet's networks as the graphs, by name, in evaluation mode.

    The wrappers must be in evaluation mode themselves: the ONNX exporter restores a wrapper's
    mode recursively after export, and a wrapper in training mode would put the shared networks
    back into training mode, where a forward pass updates batch-norm statistics.
    """
    graphs = {'depth': DepthGraph(model), 'features': FeaturesGraph(model),
              'depth_features': DepthFeaturesGraph(model), 'pose': PoseGraph(model)}
    return {name: graph.eval() for name, graph in graphs.items()}
