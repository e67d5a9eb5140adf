"""
What decides whether fine-tuning made a model better: the geometry, not the whole loss.

The total DeFeat loss mixes what measures depth and motion (the photometric reprojection error)
with what does not: the feature-warp and contrastive terms shape FeatNet and fall as the
features learn, whatever happens to depth, and smoothness rewards flat disparity. The criterion
keeps the photometric error alone. It is unchanged when depth and translation drift larger or
smaller together, so, where the vehicle's speed is known, the weighted velocity error is added:
it is what sees such a drift.
"""


def validation_criterion(terms, loss_config):
    """
    Return the criterion of a batch: photometric error plus the weighted velocity error.

    :param terms: the named terms DeFeatLoss returned (0-d tensors).
    :param loss_config: the LossConfig that computed them.
    :return: 0-d tensor; lower is better.
    """
    photometric = terms['bidirectional_photometric' if loss_config.bidirectional
                        else 'photometric']
    if 'velocity' not in terms:
        return photometric
    return photometric + loss_config.velocity_weight * terms['velocity']
