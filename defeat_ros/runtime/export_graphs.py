"""
The three exported graphs: networks wrapped so that their outputs need no post-processing.

* ``DepthGraph``: image 1 x 3 x H x W RGB in [0, 1] -> depth 1 x 1 x H x W in metres.
* ``FeaturesGraph``: image -> features 1 x n x H x W, L2-normalised per pixel.
* ``PoseGraph``: (previous, current) images -> T_previous_current 1 x 4 x 4, the current
  camera's pose in the previous camera's frame (maps current-frame points to the previous
  frame), so odometry chains as T_odom_current = T_odom_previous @ T_previous_current.
"""

from torch import nn

GRAPHS = ('depth', 'features', 'pose')
"""Names of the exported graphs, also their ONNX file stems."""


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
        self.feat_net = model.feat_net

    def forward(self, image):
        """Image 1 x 3 x H x W -> features 1 x n x H x W."""
        return self.feat_net(image)


class PoseGraph(nn.Module):
    """Relative camera motion between consecutive frames, as a 4 x 4 matrix."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, previous, current):
        """Images 1 x 3 x H x W each -> T_previous_current 1 x 4 x 4."""
        # The current frame is the target and the previous one its earlier source.
        return self.model.relative_pose(current, previous, source_is_earlier=True)


def graph_modules(model):
    """Wrap a DeFeatNet's networks as the three graphs, by name."""
    return {'depth': DepthGraph(model), 'features': FeaturesGraph(model), 'pose': PoseGraph(model)}
