"""Undo horizontal flips of the network inputs on the network outputs, before the loss."""

from defeat_ros.data.augment import unflip_images, unflip_poses


def unflip_outputs(outputs, flipped):
    """
    Return TrainOutputs as if the network had seen unflipped frames.

    Dense maps are flipped back; a motion estimated between mirrored frames is the mirror
    image of the true one (see :func:`defeat_ros.data.augment.unflip_poses`).
    """
    outputs.disparities = [unflip_images(d, flipped) for d in outputs.disparities]
    if outputs.features is not None:
        outputs.features = unflip_images(outputs.features, flipped)
    outputs.source_features = [unflip_images(f, flipped) for f in outputs.source_features]
    outputs.poses = [unflip_poses(pose, flipped) for pose in outputs.poses]
    if outputs.explainability is not None:
        outputs.explainability = [[unflip_images(m, flipped) for m in masks]
                                  for masks in outputs.explainability]
    if outputs.source_disparities is not None:
        outputs.source_disparities = [unflip_images(d, flipped)
                                      for d in outputs.source_disparities]
        outputs.encoder_features = unflip_images(outputs.encoder_features, flipped)
        outputs.source_encoder_features = [unflip_images(f, flipped)
                                           for f in outputs.source_encoder_features]
    if outputs.pretext is not None:
        # Prediction and truth both come from the flipped input: they stay aligned.
        outputs.pretext = {task: tuple(unflip_images(m, flipped) for m in pair)
                           for task, pair in outputs.pretext.items()}
    if outputs.segmentation is not None:
        outputs.segmentation = unflip_images(outputs.segmentation, flipped)
    return outputs
