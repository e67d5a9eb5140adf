"""
Segmentation guidance of depth (seed 004): cross-entropy, the class map and the sky term.

The semantic terms of DeFeatLoss (class-boundary-aware smoothness, the sky term, masking
movable classes out of the photometric loss) read one class map per target pixel:
:func:`class_map`, the sample's label where it has one, else the segmentation head's most
likely class, else :data:`~defeat_ros.semantics.IGNORE` (unknown).
"""

from defeat_ros.semantics import IGNORE, MOVABLE, SKY
import torch
import torch.nn.functional as F


def known_labels(labels, target):
    """
    Return the batch's labels as B x H x W long train ids (all IGNORE when ``labels`` is None).

    :param labels: B x H x W train ids (uint8, IGNORE unknown) at the target's resolution, or
        None (the batch carries none).
    :param target: B x 3 x H x W, the frames the labels belong to.
    """
    b, _, h, w = target.shape
    if labels is None:
        return torch.full((b, h, w), IGNORE, dtype=torch.long, device=target.device)
    if tuple(labels.shape) != (b, h, w):
        raise ValueError(f'labels must be B x H x W = {(b, h, w)} like the target, '
                         f'got {tuple(labels.shape)}')
    return labels.to(device=target.device, dtype=torch.long)


def class_map(labels, logits=None):
    """
    Return B x 1 x H x W long classes: the labels where known, else the logits' argmax.

    :param labels: B x H x W long train ids, IGNORE unknown (:func:`known_labels`).
    :param logits: B x C x H x W segmentation logits, or None (unknown pixels stay IGNORE).
    """
    if logits is not None:
        labels = torch.where(labels != IGNORE, labels, logits.detach().argmax(dim=1))
    return labels.unsqueeze(1)


def resize_classes(classes, height, width):
    """Nearest-neighbour resize of a B x 1 x H x W class map."""
    if classes.shape[-2:] == (height, width):
        return classes
    return F.interpolate(classes.float(), size=(height, width), mode='nearest').long()


def movable_mask(classes):
    """B x 1 x H x W float, 1 on pixels of a movable class (person, vehicles)."""
    return torch.isin(classes, classes.new_tensor(MOVABLE)).float()


def sky_mask(classes):
    """B x 1 x H x W float, 1 on sky pixels."""
    return (classes == SKY).float()


def segmentation_loss(logits, labels, weights=None):
    """
    Weighted mean cross-entropy over labelled pixels (IGNORE ones excluded); 0 when none is.

    sum_x w(x) CE(x) / sum_x w(x) over the labelled pixels x: the plain mean without
    ``weights``. Still a function of every logit, so the head takes part in the backward pass
    (zero gradients) on batches without labels: DistributedDataParallel then finds no unused
    head.

    :param logits: B x C x H x W; labels: B x H x W long train ids, IGNORE unknown.
    :param weights: B x H x W float w(x) >= 0 (U-Net's weight map,
        :func:`~defeat_ros.losses.boundary_weights.unet_weights`), or None: 1 on every pixel.
    """
    errors = F.cross_entropy(logits, labels, ignore_index=IGNORE, reduction='none')
    labelled = (labels != IGNORE).to(errors.dtype)
    weights = labelled if weights is None else weights * labelled
    return (weights * errors).sum() / weights.sum().clamp(min=torch.finfo(errors.dtype).tiny)
