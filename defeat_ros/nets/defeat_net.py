"""DeFeatNet: the bundle of DepthNet, FeatNet and PoseNet trained together."""

from dataclasses import dataclass, fields, replace

from defeat_ros.geometry import motion_to_transform
from defeat_ros.nets.config import ModelConfig, pose_inverted
from defeat_ros.nets.depth_net import DepthNet, disparity_to_depth
from defeat_ros.nets.feat_net import FeatNet
from defeat_ros.nets.pose_net import PoseNet
import torch
from torch import nn


@dataclass
class TrainOutputs:
    """
    Everything the training losses read for one target frame and its source frames.

    Shapes: B batch, H x W network resolution, S number of source frames, n feature dims.
    """

    disparities: list
    """4 target disparities B x 1 x H/2^s x W/2^s, s = 0..3."""
    features: object
    """Target features B x n x H x W (None when not asked for)."""
    source_features: list
    """S source feature maps B x n x H x W (empty when not asked for)."""
    poses: list
    """S transforms T_source_target B x 4 x 4."""
    explainability: list = None
    """S lists of 4 masks B x 1 x H/2^s x W/2^s over target pixels (when the model has them)."""
    source_disparities: list = None
    """S full-resolution source disparities B x 1 x H x W (when asked for)."""
    encoder_features: object = None
    """Target DepthNet encoder map at stride 2, B x 64 x H/2 x W/2 (with source_disparities)."""
    source_encoder_features: list = None
    """S source DepthNet encoder maps at stride 2 (with source_disparities)."""
    pretext: dict = None
    """
    TripleDNet pretext task -> (prediction, truth) for the target frame, when the model has
    them: 'reconstruction' B x 3 x H x W (the network input), 'colourisation' B x 2 x H x W (its
    Lab chroma / 100)."""
    segmentation: object = None
    """Target class logits B x NUM_CLASSES x H x W (when the model has the head)."""

    def to_float(self):
        """Return a copy with every tensor in float32 (what a mixed-precision forward gives)."""
        def cast(value):
            if isinstance(value, (list, tuple)):
                return type(value)(cast(item) for item in value)
            if isinstance(value, dict):
                return {key: cast(item) for key, item in value.items()}
            return value.float() if value is not None else None
        return replace(self, **{f.name: cast(getattr(self, f.name)) for f in fields(self)})


class DeFeatNet(nn.Module):
    """Owns the three networks of DeFeat-Net and the conventions that join them."""

    def __init__(self, config=None):
        super().__init__()
        self.config = config or ModelConfig()
        cfg = self.config
        weights = cfg.pretrained_encoder or None
        self.depth_net = DepthNet(cfg.depth_layers, cfg.min_depth, cfg.max_depth, weights,
                                  cfg.encoder_width, cfg.initial_depth, cfg.pretext,
                                  cfg.segmentation, cfg.decoder)
        shared = self.depth_net.encoder.channels if cfg.shared_encoder else None
        self.feat_net = FeatNet(cfg.feat_layers, cfg.feature_dims, weights, cfg.encoder_width,
                                shared, cfg.feature_stride, cfg.decoder)
        self.pose_net = PoseNet(cfg.pose_layers, weights, cfg.explainability, cfg.encoder_width,
                                cfg.pose_scale, cfg.pose_stride, cfg.decoder)

    def features(self, image, depth_maps=None):
        """
        Dense features B x n x H x W of images B x 3 x H x W.

        :param depth_maps: ``depth_net.encoder(image)`` when already computed; with a shared
            encoder the features decode these (computed here when None), else FeatNet runs its
            own encoder and they are not read.
        """
        if self.feat_net.encoder is not None:
            return self.feat_net(image)
        if depth_maps is None:
            depth_maps = self.depth_net.encoder(image)
        return self.feat_net.decode(depth_maps)

    def depth_and_features(self, image):
        """Depth B x 1 x H x W (m) and features B x n x H x W, a shared encoder run once."""
        maps = self.depth_net.encoder(image)
        depth = self.to_depth(self.depth_net.decode(maps)[0])
        return depth, self.features(image, maps)

    def to_depth(self, disparity):
        """Sigmoid disparity (any shape) -> depth in metres within the model's range."""
        return disparity_to_depth(disparity, self.config.min_depth, self.config.max_depth)

    def pose_features(self, target, source, source_is_earlier):
        """Encode the pair in the configured order; returns (features, inverted flag)."""
        if pose_inverted(self.config, source_is_earlier):
            return self.pose_net.encode(source, target), True
        return self.pose_net.encode(target, source), False

    def motion_from_features(self, features, target_disparity):
        """
        Run the PoseNet head on encoded pair features -> motion B x 6 in fp32.

        The motion is (axis-angle, translation) of PoseNet's transform, before any inversion
        (:func:`~defeat_ros.geometry.motion_to_transform` composes it).

        :param target_disparity: B x 1 x H x W full-resolution disparity of the target frame
            (read with ``translation_scaling`` 'mean_inverse_depth' only; else may be None).
        """
        axis_angle, translation = self.pose_net.pose(features)
        # Translation scaling in fp32 whatever precision the networks ran in.
        with torch.autocast(translation.device.type, enabled=False):
            axis_angle, translation = axis_angle.float(), translation.float()
            if self.config.translation_scaling == 'mean_inverse_depth':
                inverse_depth = 1.0 / self.to_depth(target_disparity.float())
                translation = translation * inverse_depth.mean(dim=(1, 2, 3)).unsqueeze(1)
            return torch.cat([axis_angle, translation], dim=1)

    def transform_from_features(self, features, inverted, target_disparity):
        """Run the PoseNet head -> T_source_target B x 4 x 4 (see :meth:`motion_from_features`)."""
        return motion_to_transform(self.motion_from_features(features, target_disparity),
                                   inverted)

    def relative_motion(self, target, source, source_is_earlier):
        """
        Return PoseNet's motion B x 6 for images B x 3 x H x W, and whether to invert it.

        ``motion_to_transform(*relative_motion(...))`` is :meth:`relative_pose`; the exported
        pose graph stops at the motion, so that no backend runs the rotation maths at a lower
        precision than fp32.
        """
        disparity = (self.depth_net(target)[0]
                     if self.config.translation_scaling != 'none' else None)
        features, inverted = self.pose_features(target, source, source_is_earlier)
        return self.motion_from_features(features, disparity), inverted

    def relative_pose(self, target, source, source_is_earlier):
        """T_source_target B x 4 x 4 for images B x 3 x H x W."""
        return motion_to_transform(*self.relative_motion(target, source, source_is_earlier))

    def forward(self, target, sources, source_offsets, with_source_depth=False,
                with_features=True):
        """Run :meth:`forward_train` (the entry DistributedDataParallel wraps)."""
        return self.forward_train(target, sources, source_offsets, with_source_depth,
                                  with_features)

    def forward_train(self, target, sources, source_offsets, with_source_depth=False,
                      with_features=True):
        """
        Run every network a training step needs.

        :param target: B x 3 x H x W frame t.
        :param sources: list of S frames B x 3 x H x W.
        :param source_offsets: S frame offsets relative to t (e.g. [-1, 1]); the sign sets the
            pose order.
        :param with_source_depth: also predict depth (and encoder maps) for the source frames.
        :param with_features: run FeatNet (a loss without feature terms leaves it out, and
            DistributedDataParallel then sees FeatNet unused rather than waiting for it).
        """
        depth_encoder = self.depth_net.encoder(target)
        depth = self.depth_net.decode_train(depth_encoder, target)
        source_encoders = ([self.depth_net.encoder(source) for source in sources]
                           if with_source_depth or (with_features and self.config.shared_encoder)
                           else [None] * len(sources))
        out = TrainOutputs(
            disparities=depth.disparities,
            features=self.features(target, depth_encoder) if with_features else None,
            source_features=([self.features(source, maps)
                              for source, maps in zip(sources, source_encoders)]
                             if with_features else []),
            poses=[],
            pretext=depth.pretext,
            segmentation=depth.segmentation,
        )
        if self.pose_net.mask_decoder is not None:
            out.explainability = []
        for source, offset in zip(sources, source_offsets):
            features, inverted = self.pose_features(target, source, offset < 0)
            out.poses.append(self.transform_from_features(features, inverted,
                                                          out.disparities[0]))
            if out.explainability is not None:
                # Masks are predicted for (target, source) pairs fed target-first.
                mask_features = self.pose_net.encode(target, source) if inverted else features
                out.explainability.append(self.pose_net.explainability(mask_features))
        if with_source_depth:
            out.encoder_features = depth_encoder[0]
            out.source_disparities = []
            out.source_encoder_features = []
            for encoded in source_encoders:
                out.source_disparities.append(self.depth_net.decode(encoded)[0])
                out.source_encoder_features.append(encoded[0])
        return out
