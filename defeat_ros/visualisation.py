"""Images for people: colour-mapped depth and RGB tensors as 8-bit arrays."""

import cv2
import numpy as np


def rgb_to_uint8(image):
    """Tensor 3 x H x W in [0, 1] -> H x W x 3 uint8 RGB array."""
    array = image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    return (array * 255.0 + 0.5).astype(np.uint8)


def depth_range(depth):
    """
    Return the range colourise_depth shows by default: (near, far) metres; None: no depth.

    The 95th and 5th percentiles of the valid inverse depths (``near <= far``).
    """
    depth = _depth_array(depth)
    valid = np.isfinite(depth) & (depth > 0)
    if not valid.any():
        return None
    low, high = np.percentile(1.0 / depth[valid], [5, 95])
    return float(1.0 / high), float(1.0 / low)


def _depth_array(depth):
    depth = np.asarray(depth.detach().cpu() if hasattr(depth, 'detach') else depth, np.float32)
    return depth.squeeze()


def colourise_depth(depth, min_depth=None, max_depth=None):
    """
    Depth H x W (tensor or array, metres; NaN allowed) -> H x W x 3 uint8 RGB.

    Inverse depth is mapped linearly through the magma colour map, ``max_depth`` (far) dark to
    ``min_depth`` (near) bright; invalid pixels are black. The range defaults to
    :func:`depth_range` (the 5th-95th percentile of the valid inverse depths).
    """
    depth = _depth_array(depth)
    valid = np.isfinite(depth) & (depth > 0)
    if not valid.any():
        return np.zeros(depth.shape + (3,), np.uint8)
    if not (min_depth and max_depth):
        near, far = depth_range(depth)
        min_depth, max_depth = min_depth or near, max_depth or far
    inverse = np.zeros_like(depth)
    inverse[valid] = 1.0 / depth[valid]
    low, high = 1.0 / max_depth, 1.0 / min_depth
    scaled = np.clip((inverse - low) / max(high - low, 1e-9), 0, 1)
    coloured = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_MAGMA)
    coloured = cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB)
    coloured[~valid] = 0
    return coloured


def colourise_features(features, samples=4096):
    """
    Dense features n x H x W (array) -> H x W x 3 uint8 RGB: their first 3 principal components.

    The components come from at most ``samples`` evenly spaced pixels; each one's sign is fixed
    so that its largest entry is positive (colours do not flip between frames for that reason),
    and each colour channel spans the 1st-99th percentile of its component.
    """
    features = np.asarray(features, dtype=np.float32)
    channels, height, width = features.shape
    pixels = features.reshape(channels, -1).T
    centred = pixels - pixels.mean(axis=0)
    sample = centred[::max(1, centred.shape[0] // samples)]
    _, _, components = np.linalg.svd(sample, full_matrices=False)
    components = components[:3]
    strongest = np.argmax(np.abs(components), axis=1)
    components *= np.sign(components[np.arange(len(components)), strongest])[:, None]
    projected = centred @ components.T
    if projected.shape[1] < 3:
        projected = np.pad(projected, ((0, 0), (0, 3 - projected.shape[1])))
    low, high = np.percentile(projected, [1, 99], axis=0)
    scaled = np.clip((projected - low) / np.maximum(high - low, 1e-9), 0.0, 1.0)
    return (scaled * 255.0 + 0.5).astype(np.uint8).reshape(height, width, 3)
