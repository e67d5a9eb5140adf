"""
Perception: camera image in; metric depth, dense features and relative pose out.

The one inference step behind every front door (ROS node, bag processing, demo, benchmark):
encoding conversion, resizing to the network resolution, the backend's graphs, and resizing
the outputs back with intrinsics to match. Depth and features are resized independently: each
map is resized at most once, from the network's size straight to the size asked for, and the
features (n channels) can stay at the network's size while depth comes at the camera's.

Metric scale (``scale_mode``): 'model' keeps the scale the network was trained at, metres for a
model trained with the vehicle's speed or camera height (its ``metric_scale``, see
:attr:`Perception.metric_source`) and arbitrary otherwise; 'camera_height' multiplies depth
and the translation of the relative pose by the factor that puts the ground plane at the known
mounting height (:mod:`~defeat_ros.runtime.ground_scale`); 'speed' sets the length of each
relative pose's translation to the distance the vehicle travelled (the caller's ``travelled``,
from its speed) and multiplies depth by the smoothed ratio of the two
(:mod:`~defeat_ros.runtime.speed_scale`).

Another camera than the training one: a model's depth reads distance from where things are in
the image, above all how far below the horizon the road is. A camera whose vertical focal length
over its image height (``fy / H``) differs from the training camera's (the model's
``camera_focal_y``) shows the same distance at other rows once resized to the network's input,
so with intrinsics (``k_norm``) depth is first multiplied by the camera's ``fy / H`` over the
training camera's (:meth:`Perception.focal_ratio`), before the alignment (which takes the
translation's length from the depth) and the scale modes. PoseNet's own translation is left
as it is: it reads the motion from how far the image moves, which a wider camera changes in
another proportion (benchmarks/other_cameras.py, docs/metric_scale.md).

Relative pose (``pose_refinement``): 'direct' refines PoseNet's pose by direct alignment of the
previous camera image to the current one through the current depth
(:mod:`~defeat_ros.direct_alignment`); 'none' keeps PoseNet's.
"""

from dataclasses import dataclass
import math
import time

import cv2
from defeat_ros.data.image_ops import resize_rgb, rgb_array
from defeat_ros.direct_alignment import align_pose, alignment_image, POSE_REFINEMENTS
from defeat_ros.geometry import scale_intrinsics
from defeat_ros.messages.image_encoding import to_rgb
from defeat_ros.nets.config import UNIT_FIELDS
from defeat_ros.nets.model_dir import read_config
from defeat_ros.runtime.backends import make_backend
from defeat_ros.runtime.ground_scale import GroundScale
from defeat_ros.runtime.speed_scale import SpeedScale
import numpy as np

SCALE_MODES = ('model', 'camera_height', 'speed')
"""Where metric scale comes from: the trained model, the camera's mounting height, or the
vehicle's speed."""


@dataclass
class PerceptionResult:
    """Outputs for one frame: depth at the output size H x W, features at theirs."""

    depth: np.ndarray
    """H x W float32 metres."""
    features: np.ndarray = None
    """n x Hf x Wf float32 at ``features_size`` (by default H x W), unit norm per pixel (when
    asked for)."""
    transform: np.ndarray = None
    """4 x 4 float64 T_previous_current (when asked for and a previous frame exists)."""
    seconds: float = 0.0
    """Wall time of the call."""
    scale: float = 1.0
    """Factor applied to the network's depth (1 in 'model' mode), and to its pose translation
    unless ``step_from_speed``."""
    focal_ratio: float = 1.0
    """The camera's ``fy / H`` over the training camera's, which multiplied the network's depth
    before ``scale`` (1: the same camera, or no intrinsics)."""
    scale_confidence: float = None
    """Inlier ratio of this frame's ground plane, 0 without one ('camera_height' mode only)."""
    frame: np.ndarray = None
    """The network input: 1 x 3 x h x w float32 in [0, 1] at the model's resolution."""
    pose_refined: bool = False
    """Whether direct alignment refined PoseNet's pose (False: ``transform`` is PoseNet's)."""
    step_from_speed: bool = False
    """Whether the translation's length is the distance travelled ('speed' mode)."""


class Perception:
    """Stateful per camera: the previous frame for relative pose, and the smoothed scale."""

    def __init__(self, model_dir, backend='auto', scale_mode='model', camera_height=1.65,
                 pose_refinement='direct', **backend_options):
        """
        Open ``model_dir`` with a backend (``backends.BACKENDS``).

        :param scale_mode: one of :data:`SCALE_MODES`.
        :param camera_height: camera height above the ground (m), for 'camera_height'.
        :param pose_refinement: one of :data:`POSE_REFINEMENTS` (the attribute of that name
            may be changed between frames).
        """
        if pose_refinement not in POSE_REFINEMENTS:
            raise ValueError(f'pose_refinement must be one of {", ".join(POSE_REFINEMENTS)}, '
                             f'got {pose_refinement!r}')
        self.config = read_config(model_dir)
        self.backend = make_backend(model_dir, backend, **backend_options)
        self._backend_choice = (backend, backend_options)
        self.pose_refinement = pose_refinement
        self.previous = None
        self.previous_grey = None
        self.scale_mode = 'model'
        self.ground = GroundScale(camera_height)
        self.speed = SpeedScale()
        self.set_scale(scale_mode, camera_height)

    def set_scale(self, scale_mode, camera_height):
        """Choose the scale mode and mounting height; a new mode restarts the smoothing."""
        if scale_mode not in SCALE_MODES:
            raise ValueError(f'scale_mode must be one of {", ".join(SCALE_MODES)}, got '
                             f'{scale_mode!r}')
        self.ground.camera_height = camera_height
        if scale_mode != self.scale_mode:
            self.ground.reset()
            self.speed.reset()
        self.scale_mode = scale_mode

    def swap_model(self, model_dir):
        """
        Switch to the weights of ``model_dir`` (same architecture and resolution).

        The new backend is built first and then replaces the running one in one assignment,
        so a call in progress finishes on the old weights and the next one uses the new. The
        new model may have another unit of depth (online fine-tuning rescales a model of
        arbitrary scale to metres).

        :raises ValueError: when the model's configuration differs in more than provenance,
            the source of its scale and its unit of depth.
        """
        config = read_config(model_dir)
        old, new = self.config.to_dict(), config.to_dict()
        for unchecked in ('provenance', 'metric_scale', 'camera_focal_y', *UNIT_FIELDS):
            old.pop(unchecked), new.pop(unchecked)
        if old != new:
            changed = sorted(k for k in old if old[k] != new.get(k))
            raise ValueError(f'{model_dir} differs from the running model in {changed}')
        backend, options = self._backend_choice
        self.backend = make_backend(model_dir, backend, **options)
        self.config = config
        self.speed.reset()  # the new model's units may differ

    @property
    def metric_source(self):
        """
        Where the metres of depth and odometry come from; '' when they are not metric.

        'camera height' in ``scale_mode`` 'camera_height', 'vehicle speed' in 'speed' (the
        depth is in model units until the first step of at least
        :data:`~defeat_ros.runtime.speed_scale.MIN_STEP_M`); in 'model' mode the model's
        ``metric_scale`` ('velocity', 'camera_height', 'depth_supervision'), or '' for a model
        of arbitrary scale.
        """
        if self.scale_mode != 'model':
            return {'camera_height': 'camera height', 'speed': 'vehicle speed'}[self.scale_mode]
        return '' if self.config.metric_scale == 'none' else self.config.metric_scale

    def reset(self):
        """
        Forget the previous frame (time jump, new sequence).

        The smoothed scale is kept: a time jump does not move the camera on its mount.
        """
        self.previous = None
        self.previous_grey = None

    def focal_ratio(self, k_norm):
        """
        Return the camera's ``fy / H`` over the training camera's (module doc).

        1.0 without intrinsics (``k_norm`` None) or when the model does not record its
        training camera (``camera_focal_y`` 0).
        """
        if k_norm is None or not self.config.camera_focal_y:
            return 1.0
        return float(k_norm[1][1]) / self.config.camera_focal_y

    @property
    def size(self):
        """(height, width) of the network's input and outputs (what ``output_size`` None gives)."""
        return self.config.height, self.config.width

    def network_input(self, rgb):
        """H x W x 3 uint8 RGB -> 1 x 3 x h x w float32 array at the model size."""
        return rgb_array(resize_rgb(rgb, self.config.height, self.config.width))[None]

    def __call__(self, image, encoding='rgb8', features=True, pose=True,
                 output_size=None, k_norm=None, features_size='output', travelled=None):
        """
        Run the step on one camera image.

        :param image: H x W (x C) uint8 array in ``encoding`` (rgb8, bgr8, mono8, bayer_*8...).
        :param features: compute dense features.
        :param pose: compute T_previous_current against the previous call's frame.
        :param output_size: (height, width) of the depth; None keeps the network's size.
        :param k_norm: 3 x 3 normalised intrinsics of the image; needed in 'camera_height' mode
            and for ``pose_refinement`` 'direct' (without them PoseNet's pose is kept).
        :param features_size: (height, width) of the features; None keeps the network's size
            (the n x h x w maps are not resized at all); 'output': ``output_size``.
        :param travelled: metres the vehicle travelled since the previous call's frame (from
            its speed) for 'speed' mode; None or NaN: unknown.
        :return: PerceptionResult.
        """
        start = time.perf_counter()
        rgb = to_rgb(image, encoding)
        frame = self.network_input(rgb)
        depth, feature_maps, transform = self.backend.step(
            frame, self.previous if pose else None, features)
        focal_ratio = self.focal_ratio(k_norm)
        if focal_ratio != 1.0:
            depth = depth * focal_ratio
        aligning = pose and self.pose_refinement == 'direct' and k_norm is not None
        grey = alignment_image(rgb) if aligning else None
        refined = False
        if transform is not None and grey is not None and self.previous_grey is not None \
                and self.previous_grey.shape == grey.shape:
            alignment = align_pose(grey, self.previous_grey, depth[0, 0], k_norm,
                                   transform[0], self.config.max_depth)
            transform, refined = alignment.transform[None], alignment.accepted
        scale, confidence = 1.0, None
        translation_scale, from_speed = None, False
        if self.scale_mode == 'camera_height':
            if k_norm is None:
                raise ValueError("scale_mode 'camera_height' needs the intrinsics k_norm")
            estimate = self.ground.update(depth[0, 0], k_norm)
            scale, confidence = estimate.scale, estimate.confidence
        elif self.scale_mode == 'speed':
            if transform is not None:
                translation_scale, from_speed = self.speed.update(
                    transform[0, :3, 3], math.nan if travelled is None else travelled)
            scale = self.speed.scale
        if scale != 1.0:
            depth = depth * scale
        result = PerceptionResult(depth=resize_map(depth, output_size, cv2.INTER_NEAREST)[0],
                                  scale=scale, scale_confidence=confidence,
                                  focal_ratio=focal_ratio, frame=frame,
                                  pose_refined=refined, step_from_speed=from_speed)
        if features:
            if isinstance(features_size, str) and features_size == 'output':
                features_size = output_size
            result.features = resize_map(feature_maps, features_size, cv2.INTER_LINEAR)
        if transform is not None:
            result.transform = np.array(transform[0], dtype=np.float64)
            result.transform[:3, 3] *= scale if translation_scale is None else translation_scale
        self.previous = frame if pose else None
        self.previous_grey = grey
        result.seconds = time.perf_counter() - start
        return result

    def intrinsics(self, k_norm, output_size=None):
        """Scale normalised intrinsics to the outputs' pixel size: a 3 x 3 array."""
        height, width = output_size or self.size
        return scale_intrinsics(np.asarray(k_norm, dtype=np.float32), height, width)


def resize_map(maps, output_size, interpolation):
    """1 x C x h x w array -> C x H x W float32 array at ``output_size`` (or unchanged)."""
    array = np.asarray(maps[0], dtype=np.float32)
    if output_size is None or tuple(output_size) == array.shape[1:]:
        return array
    height, width = output_size
    channels = [cv2.resize(c, (width, height), interpolation=interpolation) for c in array]
    return np.stack(channels)
