"""
What decides whether fine-tuning made a model better: the geometry, not the whole loss.

The total DeFeat loss mixes what measures depth and motion (the photometric reprojection error)
with what does not: the feature-warp and contrastive terms shape FeatNet and fall as the
features learn, whatever happens to depth, and smoothness rewards flat disparity. The criterion
keeps the photometric error alone. It is unchanged when depth and translation drift larger or
smaller together, so, where the vehicle's speed is known, the weighted velocity error is added:
it is what sees such a drift; so is the weighted camera-height error where that loss is on.
"""


def validation_criterion(terms, loss_config):
    """
    Return the criterion of a batch: photometric error plus the weighted scale errors.

    The scale errors are the velocity and the camera-height terms, each where DeFeatLoss
    computed it.

    :param terms: the named terms DeFeatLoss returned (0-d tensors).
    :param loss_config: the LossConfig that computed them.
    :return: 0-d tensor; lower is better.
    """
    criterion = terms['bidirectional_photometric' if loss_config.bidirectional
                      else 'photometric']
    if 'velocity' in terms:
        criterion = criterion + loss_config.velocity_weight * terms['velocity']
    if 'camera_height' in terms:
        criterion = criterion + loss_config.camera_height_weight * terms['camera_height']
    return criterion
