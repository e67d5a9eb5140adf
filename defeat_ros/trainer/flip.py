"""Undo horizontal flips of the network inputs on the network outputs, before the loss."""

import torch

MIRROR = torch.diag(torch.tensor([-1.0, 1.0, 1.0, 1.0]))
"""Reflection x -> -x of the optical frame; a mirrored view's motion is MIRROR T MIRROR."""


def unflip(tensor, flip):
    """Flip B x C x H x W maps back along W where ``flip`` (B bool) is set."""
    return torch.where(flip.view(-1, 1, 1, 1), tensor.flip(-1), tensor)


def unflip_outputs(outputs, flip):
    """
    Return TrainOutputs as if the network had seen unflipped frames.

    Dense maps are flipped back; a motion estimated between mirrored frames is the mirror
    image of the true one, so poses become MIRROR @ T @ MIRROR.
    """
    mirror = MIRROR.to(flip.device)
    outputs.disparities = [unflip(d, flip) for d in outputs.disparities]
    outputs.features = unflip(outputs.features, flip)
    outputs.source_features = [unflip(f, flip) for f in outputs.source_features]
    outputs.poses = [torch.where(flip.view(-1, 1, 1), mirror @ pose @ mirror, pose)
                     for pose in outputs.poses]
    if outputs.explainability is not None:
        outputs.explainability = [[unflip(m, flip) for m in masks]
                                  for masks in outputs.explainability]
    if outputs.source_disparities is not None:
        outputs.source_disparities = [unflip(d, flip) for d in outputs.source_disparities]
        outputs.encoder_features = unflip(outputs.encoder_features, flip)
        outputs.source_encoder_features = [unflip(f, flip)
                                           for f in outputs.source_encoder_features]
    return outputs
