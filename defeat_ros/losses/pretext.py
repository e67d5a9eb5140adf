"""TripleDNet's pretext loss (seed 003): Charbonnier between pretext predictions and truths."""

from defeat_ros.losses.photometric import charbonnier


def pretext_losses(pretext, eps=1e-3):
    """
    Return {task: mean Charbonnier(prediction - truth)} of the pretext heads' outputs.

    L_pr = mean sqrt((D_P(E(x)) - x)^2 + eps^2) for reconstruction and
    L_col = mean sqrt((D_P(F(x) + GS(x)) - AB(x))^2 + eps^2) for colourisation, each averaged
    over batch, channels and pixels; TripleDNet's L_pt is their sum.

    :param pretext: TrainOutputs.pretext: task -> (prediction, truth), same shapes.
    :param eps: epsilon of the Charbonnier error.
    """
    return {task: charbonnier(prediction, truth, eps).mean()
            for task, (prediction, truth) in pretext.items()}
