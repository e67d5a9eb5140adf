"""Untrained networks for tests that follow PoseNet's motions."""

from defeat_ros.nets import DeFeatNet


def untrained_model(config):
    """
    Return an untrained DeFeatNet of ModelConfig ``config`` whose PoseNet predicts motion.

    A new PoseNet's last layer is zero, so it predicts no motion for any pair. Tests of
    trajectories, alignment, exported pose graphs or the metric start need motions that differ
    from pair to pair: this draws that layer again with PyTorch's default initialisation.
    """
    model = DeFeatNet(config)
    model.pose_net.decoder[-1].reset_parameters()
    return model
