"""
Change the unit of a model's depth and translation exactly, without training.

Depth maps sigmoid disparity onto [``min_depth``, ``max_depth``] and PoseNet's last layer
outputs the translation, so multiplying both ends of the depth range and the translation rows of
that layer by one factor multiplies every depth and every translation by it and leaves all
else (features, rotations, the photometric warp) unchanged. Fine-tuning with the vehicle's
speed starts from a model rescaled this way (:mod:`defeat_ros.trainer.metric_start` estimates
the factor): the velocity loss then refines a scale that is already close instead of moving it
by 10x.
"""

from dataclasses import replace

from defeat_ros.nets.config import UNIT_FIELDS
import torch


@torch.no_grad()
def rescale_model(model, factor):
    """
    Multiply every depth and translation ``model`` predicts by ``factor``, in place.

    :param model: a DeFeatNet; its config (``min_depth``, ``max_depth``, ``initial_depth``), its
        DepthNet's range and the translation rows of PoseNet's last layer change.
    :param factor: positive scale factor.
    :return: ``model``.
    """
    if not factor > 0:
        raise ValueError(f'the scale factor must be positive, got {factor}')
    config = model.config
    model.config = replace(config, **{name: getattr(config, name) * factor
                                      for name in UNIT_FIELDS})
    model.depth_net.min_depth, model.depth_net.max_depth = (model.config.min_depth,
                                                            model.config.max_depth)
    # 'mean_inverse_depth' multiplies the translation by 1 / depth, which shrinks by the factor.
    translation_factor = factor * (factor if config.translation_scaling != 'none' else 1.0)
    last = model.pose_net.decoder[-1]
    last.weight[3:] *= translation_factor
    last.bias[3:] *= translation_factor
    return model
