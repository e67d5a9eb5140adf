"""
U-Net's pixel-wise weight map for the segmentation cross-entropy (seed 004).

w(x) = w_c(x) + w0 exp(-(d1(x) + d2(x))^2 / (2 sigma^2)) (Ronneberger et al. 2015, U-Net),
adapted from cell instances to semantic labels: the segments are the 8-connected components
of each class of a label map (IGNORE pixels belong to none), and d1, d2 are a pixel's
distances to the nearest and second-nearest segment other than its own. The border term is
large where segments come close together (a thin pole between two walls, the gap between two
cars), as U-Net's is in the thin background gaps between touching cells; the boundary between
two segments far from any third gets little more than w_c.
"""

import cv2
from defeat_ros.semantics import IGNORE
import numpy as np
import torch


def class_balance(labels):
    """
    Return H x W float32 median-frequency weights w_c of one label map, 0 on IGNORE pixels.

    w_c(x) = median_c f_c / f_l(x) (Eigen and Fergus, 2015): f_c the share of the image's
    labelled pixels in class c, the median over the classes present in the image.

    :param labels: H x W uint8 train ids, IGNORE unknown.
    """
    classes, counts = np.unique(labels[labels != IGNORE], return_counts=True)
    lookup = np.zeros(256, np.float32)
    if len(classes):
        lookup[classes] = np.median(counts) / counts
    return lookup[labels]


def segment_distances(labels, reach):
    """
    Return (d1, d2): H x W float32 distances to the nearest and second-nearest other segment.

    A segment is an 8-connected component of one class (IGNORE pixels belong to none); a
    pixel's distance to a segment other than its own is the Euclidean distance in pixels to
    that segment's nearest pixel (1 from a neighbour across its border). Distances over
    ``reach`` count as infinite (each segment's distances are computed in its bounding box
    grown by ``reach``), as do missing ones (fewer than one or two other segments).

    :param labels: H x W uint8 train ids, IGNORE unknown.
    :param reach: pixels.
    """
    d1 = np.full(labels.shape, np.inf, np.float32)
    d2 = d1.copy()
    margin = int(np.ceil(reach))
    for value in np.unique(labels[labels != IGNORE]):
        count, components, boxes, _ = cv2.connectedComponentsWithStats(
            (labels == value).astype(np.uint8), connectivity=8)
        for index in range(1, count):
            x, y, width, height = boxes[index, :4]
            window = np.s_[max(y - margin, 0):y + height + margin,
                           max(x - margin, 0):x + width + margin]
            outside = (components[window] != index).astype(np.uint8)
            distance = cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
            distance[(outside == 0) | (distance > reach)] = np.inf  # not its own segment
            d2[window] = np.minimum(d2[window], np.maximum(d1[window], distance))
            d1[window] = np.minimum(d1[window], distance)
    return d1, d2


def unet_weights(labels, boundary_weight=10.0, boundary_sigma=5.0):
    """
    Return B x H x W float32 weights w_c + w0 exp(-(d1 + d2)^2 / (2 sigma^2)), 0 where IGNORE.

    Computed per image on the host (:func:`class_balance`, :func:`segment_distances`); a pixel
    with fewer than two other segments (one segment in the image, say) gets w_c alone, as
    U-Net's maps for images with fewer than two cells (the missing distance is infinite).
    Distances over 6 sigma count as infinite too (their border term is below 2e-8 w0).

    :param labels: B x H x W long train ids, IGNORE unknown.
    :param boundary_weight: w0.
    :param boundary_sigma: sigma in pixels of the labels' resolution.
    :return: on the labels' device.
    """
    maps = []
    for image in labels.to('cpu', torch.uint8).numpy():
        d1, d2 = segment_distances(image, 6 * boundary_sigma)
        border = boundary_weight * np.exp(-(d1 + d2) ** 2 / (2 * boundary_sigma ** 2))
        maps.append(np.where(image != IGNORE, class_balance(image) + border, 0))
    return torch.from_numpy(np.stack(maps).astype(np.float32)).to(labels.device)
