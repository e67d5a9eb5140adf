"""
Perception: camera image in; metric depth, dense features and relative pose out.

The one inference step behind every front door (ROS node, bag processing, demo, benchmark):
encoding conversion, resizing to the network resolution, the backend's graphs, and resizing
the outputs back with intrinsics to match.
"""

from dataclasses import dataclass
import time

import cv2
from defeat_ros.geometry import scale_intrinsics
from defeat_ros.nets.model_dir import read_config
from defeat_ros.runtime.backends import make_backend
from defeat_ros.runtime.image_encoding import to_rgb
import numpy as np
import torch


@dataclass
class PerceptionResult:
    """Outputs for one frame at the output resolution H x W."""

    depth: np.ndarray
    """H x W float32 metres."""
    features: np.ndarray = None
    """n x H x W float32, unit norm per pixel (when asked for)."""
    transform: np.ndarray = None
    """4 x 4 float64 T_previous_current (when asked for and a previous frame exists)."""
    seconds: float = 0.0
    """Wall time of the call."""


class Perception:
    """Stateful per camera: it remembers the previous frame for relative pose."""

    def __init__(self, model_dir, backend='auto', **backend_options):
        """Open ``model_dir`` with a backend ('auto', 'onnxruntime', 'pytorch', 'tensorrt')."""
        self.config = read_config(model_dir)
        self.backend = make_backend(model_dir, backend, **backend_options)
        self.previous = None

    def reset(self):
        """Forget the previous frame (time jump, new sequence)."""
        self.previous = None

    def preprocess(self, image, encoding='rgb8'):
        """H x W (x C) uint8 in ``encoding`` -> 1 x 3 x h x w float tensor at the model size."""
        rgb = to_rgb(image, encoding)
        size = (self.config.width, self.config.height)
        if rgb.shape[1::-1] != size:
            shrinking = rgb.shape[1] > size[0]
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if shrinking
                             else cv2.INTER_LINEAR)
        tensor = torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0)
        return tensor.unsqueeze(0).contiguous()

    def __call__(self, image, encoding='rgb8', features=True, pose=True,
                 output_size=None):
        """
        Run the step on one camera image.

        :param image: H x W (x C) uint8 array in ``encoding`` (rgb8, bgr8, mono8, bayer_*8...).
        :param features: compute dense features.
        :param pose: compute T_previous_current against the previous call's frame.
        :param output_size: (height, width) of the outputs; None keeps the network's size.
        :return: PerceptionResult.
        """
        start = time.perf_counter()
        frame = self.preprocess(image, encoding)
        depth = self.backend.depth(frame)
        result = PerceptionResult(depth=resize_map(depth, output_size, cv2.INTER_NEAREST)[0])
        if features:
            result.features = resize_map(self.backend.features(frame), output_size,
                                         cv2.INTER_LINEAR)
        if pose and self.previous is not None:
            result.transform = self.backend.pose(self.previous, frame)[0].double().cpu().numpy()
        self.previous = frame if pose else None
        result.seconds = time.perf_counter() - start
        return result

    def intrinsics(self, k_norm, output_size=None):
        """Scale normalised intrinsics to the outputs' pixel size: a 3 x 3 array."""
        height, width = output_size or (self.config.height, self.config.width)
        return scale_intrinsics(torch.as_tensor(k_norm, dtype=torch.float32), height,
                                width).numpy()


def resize_map(tensor, output_size, interpolation):
    """1 x C x h x w tensor -> C x H x W float32 array at ``output_size`` (or unchanged)."""
    array = tensor[0].detach().float().cpu().numpy()
    if output_size is None or tuple(output_size) == array.shape[1:]:
        return array
    height, width = output_size
    channels = [cv2.resize(c, (width, height), interpolation=interpolation) for c in array]
    return np.stack(channels)
