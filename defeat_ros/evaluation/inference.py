"""
Run a model the way the evaluations need it: depth, relative motions and features of frames.

Images reach the networks as a camera delivers them to Perception (:func:`network_input`);
predictions come back on the CPU, at the network's resolution unless said otherwise.
"""

from defeat_ros.data.image_ops import resize_rgb, rgb_tensor
from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.direct_alignment import align_pose, alignment_image
from defeat_ros.geometry import resize
import numpy as np
import torch
import torch.nn.functional as F


def network_input(images, height, width):
    """
    Return images B x 3 x h x w in [0, 1] as the network's input B x 3 x H x W.

    As a camera delivers them to Perception: quantised to uint8 and resized with the one resize
    of camera images (:func:`~defeat_ros.data.image_ops.resize_rgb`).
    """
    frames = [rgb_tensor(resize_rgb(rgb, height, width)) for rgb in images_uint8(images)]
    return torch.stack(frames).to(images.device)


def _device(model):
    return next(model.parameters()).device


@torch.no_grad()
def predict_depth(model, images, batch=8):
    """Depth F x 1 x h x w (network resolution) of images F x 3 x H x W."""
    cfg = model.config
    out = []
    for start in range(0, len(images), batch):
        chunk = network_input(images[start:start + batch].to(_device(model)), cfg.height,
                              cfg.width)
        out.append(model.depth_net.depth(chunk).float().cpu())
    return torch.cat(out)


@torch.no_grad()
def predict_motions(model, images, batch=8):
    """Relative motions (F-1) x 4 x 4 T_next_prev of consecutive images F x 3 x H x W."""
    cfg = model.config
    out = []
    for start in range(0, len(images) - 1, batch):
        stop = min(start + batch, len(images) - 1)
        frames = network_input(images[start:stop + 1].to(_device(model)), cfg.height, cfg.width)
        out.append(model.relative_pose(frames[:-1], frames[1:], False).double().cpu())
    return torch.cat(out)


def refine_motions(motions, images, depth, k_norm, max_depth):
    """
    Refine PoseNet's motions as the node does with ``pose_refinement`` 'direct'.

    Each pair is aligned by :func:`~defeat_ros.direct_alignment.align_pose` from PoseNet's
    motion, through the newer frame's depth.

    :param motions: (F-1) x 4 x 4 T_next_prev of consecutive images (:func:`predict_motions`).
    :param images: F x 3 x H x W in [0, 1], the camera's frames.
    :param depth: F x 1 x h x w metric depth of the frames (:func:`predict_depth`).
    :param k_norm: 3 x 3 normalised intrinsics of the frames.
    :param max_depth: the model's far limit (depths there are left out).
    :return: (F-1) x 4 x 4 float64 tensor T_next_prev.
    """
    grey = [alignment_image(rgb) for rgb in images_uint8(images)]
    k_norm = np.asarray(k_norm, dtype=np.float64)
    refined = [np.linalg.inv(align_pose(grey[k + 1], grey[k], depth[k + 1, 0].numpy(), k_norm,
                                        np.linalg.inv(motion), max_depth).transform)
               for k, motion in enumerate(np.asarray(motions, dtype=np.float64))]
    return torch.from_numpy(np.stack(refined))


@torch.no_grad()
def predict_features(model, images, height, width):
    """Unit-norm features B x n x H x W of images B x 3 x h x w, resized to H x W."""
    cfg = model.config
    features = model.features(network_input(images.to(_device(model)), cfg.height,
                                            cfg.width)).float()
    if tuple(features.shape[-2:]) != (height, width):
        features = F.normalize(resize(features, height, width), dim=1)
    return features.cpu()


def iterate_features(model, images, height, width, batch=8):
    """Yield the features n x H x W of each image, computed ``batch`` images at a time."""
    for start in range(0, len(images), batch):
        yield from predict_features(model, images[start:start + batch], height, width)
