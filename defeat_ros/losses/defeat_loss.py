"""DeFeatLoss: the full self-supervised objective, with the seed variants as switches."""

from dataclasses import dataclass

from defeat_ros.geometry import correspondences, resize, sample, scale_intrinsics
from defeat_ros.losses.bidirectional import BidirectionalConsistency
from defeat_ros.losses.boundary_weights import unet_weights
from defeat_ros.losses.camera_height import CameraHeightLoss
from defeat_ros.losses.contrastive import PixelwiseContrastiveLoss
from defeat_ros.losses.depth_supervision import log_depth_error, log_depth_gradient_error
from defeat_ros.losses.explainability import ExplainabilityLoss
from defeat_ros.losses.feature_warp import FeatureWarpLoss
from defeat_ros.losses.photometric import masked_mean, PhotometricError
from defeat_ros.losses.pretext import pretext_losses
from defeat_ros.losses.reprojection import MinReprojection
from defeat_ros.losses.semantic import (class_map, known_labels, movable_mask, resize_classes,
                                        segmentation_loss, sky_mask)
from defeat_ros.losses.smoothness import EdgeAwareSmoothness
from defeat_ros.losses.velocity import VelocitySupervision
from defeat_ros.typed_config import TypedConfig
import torch
from torch import nn

FEATURE_BALANCES = ('reference', 'per_scale')
"""Choices of LossConfig.feature_balance."""

SEGMENTATION_WEIGHTINGS = ('uniform', 'unet')
"""Choices of LossConfig.segmentation_weighting."""


@dataclass
class LossConfig(TypedConfig):
    """Weights and switches of the DeFeat-Net objective. Defaults reproduce DeFeat-Net."""

    scales: int = 4
    """Disparity scales used (1-4); each is upsampled to full resolution before warping."""
    ssim_weight: float = 0.85
    """alpha in alpha * SSIM + (1 - alpha) * pointwise, for images and features."""
    pointwise: str = 'l1'
    """Pointwise error: 'l1' (DeFeat-Net) or 'charbonnier' (TripleDNet, seed 003)."""
    charbonnier_eps: float = 1e-3
    """epsilon of the Charbonnier error sqrt(x^2 + eps^2)."""
    min_reprojection: bool = True
    """Per-pixel minimum over sources; False averages them."""
    automask: bool = True
    """Offer identity (unwarped) errors to the minimum: static pixels get no gradient."""
    identity_noise: float = 1e-5
    """Std of the noise added to identity errors to break ties."""
    smoothness_weight: float = 1e-3
    """Edge-aware smoothness weight at scale 0; scale s uses weight / 2^s."""
    feature_warp_weight: float = 1.0
    """
    Weight of the feature warp loss (0 with contrastive_weight 0 = the no-feature ablation).
    With ``pointwise: charbonnier`` it is TripleDNet's feature-metric term beta * L_fm (seed 003;
    here with the ``ssim_weight`` share of SSIM on the features, as DeFeat-Net's)."""
    contrastive_weight: float = 1.0
    """Weight of the pixel-wise contrastive loss (on the scale-0 correspondences, detached, so
    it shapes the features only)."""
    feature_balance: str = 'reference'
    """
    How the feature terms enter the total beside the photometric loss averaged over ``scales``:
    'reference' as DeFeat-Net's own code (jspenmar/DeFeat-Net): both feature terms once, on
    the full-resolution depth (scale 0), added into the sum over scales that is divided by the
    number of scales, the contrastive term summed over sources; their effective weights are
    ``feature_warp_weight / scales`` and ``contrastive_weight * sources / scales``.
    'per_scale': the feature warp averaged over every scale's depth and the contrastive term
    averaged over sources, each at its full weight (4x and 2x the reference's with 4 scales
    and 2 sources; this package's behaviour before the reference's became the default)."""
    contrastive_margin: float = 0.5
    """Margin m of the negative term 1/2 max(0, m - d)^2."""
    contrastive_positives: int = 1024
    """Positive pairs sampled per image."""
    contrastive_negatives: int = 10
    """Negatives per positive."""
    contrastive_radius: float = 0.0
    """0 draws negatives over the whole image (global); r > 0 within r pixels (local)."""
    correspondences: str = 'automask'
    """
    Target pixels whose warp correspondence counts for the feature losses: 'automask' (in view
    of the chosen source and auto-masked) or 'in_view' (in view of the chosen source)."""
    explainability: bool = False
    """SfMLearner (seed 002): weight per-source errors by PoseNet's explainability masks."""
    explainability_weight: float = 0.2
    """Weight of the explainability regulariser -log(E)."""
    bidirectional: bool = False
    """
    Seed 001: replace the photometric term by the bidirectional occlusion-masked, depth-weighted
    photometric loss and add depth-structure consistency and encoder feature perception."""
    bidirectional_weight: float = 1.0
    """Weight of the bidirectional weighted photometric loss."""
    depth_consistency_weight: float = 0.5
    """Weight of the bidirectional depth-structure consistency loss."""
    feature_perception_weight: float = 0.1
    """Weight of the bidirectional encoder feature-perception loss."""
    occlusion_alpha1: float = 0.01
    """alpha_1 of the forward-backward occlusion test."""
    occlusion_alpha2: float = 0.5
    """alpha_2 of the forward-backward occlusion test (pixels^2)."""
    velocity_weight: float = 0.05
    """
    Weight of the velocity supervision (PackNet-SfM): the length of PoseNet's translation
    against the distance travelled, in metres, on samples whose data records the vehicle's
    speed (no effect on others). It makes depth and odometry metric; 0 turns it off."""
    velocity_tolerance: float = 0.0
    """Relative distance error that costs nothing (the speed sensor's accuracy, e.g. 0.02)."""
    camera_height_weight: float = 0.0
    """
    Weight of the camera-height loss: per image, the camera's height above the road plane
    fitted to the bottom 40 % of the full-resolution depth, as log(height / camera_height)
    squared, averaged over the images where a plane is found; its gradient scales PoseNet's
    translations, and the photometric warp carries the scale to depth, as with the velocity
    supervision. Meant to keep depth and odometry metric without speed, for a fixed camera
    over a flat, visible road; measured on the synthetic street it held the scale worse than
    rescaling the model to the road once (``finetune --camera-height``, docs/metric_scale.md).
    It applies to
    the samples without a known speed (all of them with ``velocity_weight`` 0): speed wins
    where recorded. 0 turns it off."""
    camera_height: float = 1.65
    """Height of the camera centre above the road, metres, for ``camera_height_weight``."""
    depth_supervision_weight: float = 0.0
    """
    Weight of supervised depth: the mean absolute log error of the depth at every scale
    (upsampled) against the samples' exact ``depth``, over the pixels that have it. Only
    datasets with exact depth give it (the synthetic world; a dataset of ground-truth depth
    maps); no effect on others. Supervised pretraining on the synthetic world, before
    self-supervised training, is a recipe of the default model (models/README.md). 0 turns it
    off (self-supervised only)."""
    depth_gradient_weight: float = 0.0
    """
    Weight, inside the supervised depth term (so only with ``depth_supervision_weight``), of
    the multi-scale gradient matching of log depth against the exact depth (MegaDepth's
    scale-invariant gradient loss), on the finest scale's depth (the one the node publishes):
    the differences of the log depth error between neighbouring pixels, at four resolutions.
    It asks for the depth's shape within the frame, such as sharp edges, where the mean log
    error is content with a blur; for the default model's second stage it improved validation
    but not the refined odometry or the real frames (models/README.md). 0 turns it off."""
    pretext_weight: float = 1.0
    """
    alpha of TripleDNet (seed 003): weight of the pretext loss L_pt, the sum over the model's
    pretext tasks (``model.pretext``) of the mean Charbonnier error (``charbonnier_eps``) of
    the reconstructed image or the predicted Lab chroma. Applies only to a model with pretext
    heads (no effect on others)."""
    segmentation_weight: float = 0.1
    """
    Seed 004: weight of the cross-entropy of the segmentation head (``model.segmentation``)
    against the samples' ``labels``, averaged over labelled pixels (weighted as
    ``segmentation_weighting`` says; 255 ignored; 0 on a batch without labels). Applies only
    to a model with the head (no effect on others)."""
    segmentation_weighting: str = 'uniform'
    """
    Seed 004: weights of the labelled pixels in the segmentation cross-entropy, which is
    sum w(x) CE(x) / sum w(x): 'uniform' (w = 1, the mean) or 'unet', U-Net's pixel-wise
    weight map w = w_c + w0 exp(-(d1 + d2)^2 / (2 sigma^2)) per image: w_c median-frequency
    class balancing (median class share / share of the pixel's class), d1 and d2 the distances
    in pixels to the nearest and second-nearest segment (8-connected region of one class)
    other than the pixel's own; pixels with fewer than two other segments within 6 sigma get
    w_c alone. Emphasises thin structures and narrow gaps between segments. Computed on the
    host (tens of ms per labelled image at 640 x 192)."""
    boundary_weight: float = 10.0
    """w0 of ``segmentation_weighting: unet`` (U-Net's 10)."""
    boundary_sigma: float = 5.0
    """
    sigma of ``segmentation_weighting: unet``, in pixels at the training resolution (U-Net's
    5)."""
    semantic_smoothness: bool = False
    """
    Seed 004: the smoothness term costs nothing between neighbours of different classes (depth
    may jump at class boundaries). Classes: the sample's label where known, else the
    segmentation head's argmax (with ``model.segmentation``), else unknown, which counts as one
    class of its own."""
    sky_weight: float = 0.0
    """
    Seed 004: weight of the mean disparity over sky pixels (classes as for
    ``semantic_smoothness``), averaged over ``scales``: pushes the sky to ``max_depth``."""
    mask_movable: bool = False
    """
    Seed 004: leave pixels of movable classes (person, rider, vehicles, moving car; classes as
    for ``semantic_smoothness``) out of the photometric term's mean (not out of the
    bidirectional loss's)."""

    def __post_init__(self):
        """Reject values no loss can be computed with."""
        if not 1 <= self.scales <= 4:
            raise ValueError(f'scales must be 1..4, got {self.scales}')
        if self.correspondences not in ('automask', 'in_view'):
            raise ValueError(f"correspondences must be 'automask' or 'in_view', "
                             f'got {self.correspondences!r}')
        if self.velocity_weight < 0 or not 0 <= self.velocity_tolerance < 1:
            raise ValueError(f'velocity_weight must be >= 0 and velocity_tolerance in [0, 1), '
                             f'got {self.velocity_weight}, {self.velocity_tolerance}')
        if not (self.camera_height_weight >= 0 and 0 < self.camera_height < float('inf')):
            raise ValueError(f'camera_height_weight must be >= 0 and camera_height a positive '
                             f'number of metres, got {self.camera_height_weight}, '
                             f'{self.camera_height}')
        for name in ('pretext_weight', 'segmentation_weight', 'sky_weight', 'boundary_weight',
                     'depth_supervision_weight', 'depth_gradient_weight'):
            if getattr(self, name) < 0:
                raise ValueError(f'{name} must be >= 0, got {getattr(self, name)}')
        if self.segmentation_weighting not in SEGMENTATION_WEIGHTINGS:
            raise ValueError(f'segmentation_weighting must be one of {SEGMENTATION_WEIGHTINGS}, '
                             f'got {self.segmentation_weighting!r}')
        if not self.boundary_sigma > 0:
            raise ValueError(f'boundary_sigma must be > 0 pixels, got {self.boundary_sigma}')
        if self.feature_balance not in FEATURE_BALANCES:
            raise ValueError(f'feature_balance must be one of {FEATURE_BALANCES}, '
                             f'got {self.feature_balance!r}')

    def feature_weights(self, sources):
        """
        Return the (feature warp, contrastive) factors on their reported terms in the total.

        The reported feature warp term is its mean over the scales it is computed at, the
        contrastive term its mean over the ``sources`` source frames.
        """
        if self.feature_balance == 'per_scale':
            return self.feature_warp_weight, self.contrastive_weight
        return (self.feature_warp_weight / self.scales,
                self.contrastive_weight * sources / self.scales)

    @property
    def uses_features(self):
        """Whether a term reads FeatNet's outputs (not so in the no-feature ablation)."""
        return bool(self.feature_warp_weight or self.contrastive_weight)

    @property
    def uses_classes(self):
        """Whether a term reads the per-pixel class map (labels or predicted classes)."""
        return bool(self.semantic_smoothness or self.sky_weight or self.mask_movable)

    @property
    def feature_warp_scales(self):
        """Return the number of scales (from 0) whose depth the feature warp loss reads."""
        return self.scales if self.feature_balance == 'per_scale' else 1


def stack(maps):
    """List of S maps B x 1 x H x W -> B x S x H x W."""
    return torch.cat(maps, dim=1)


class DeFeatLoss(nn.Module):
    """Total loss for one batch of (target, sources) and the networks' :class:`TrainOutputs`."""

    def __init__(self, config=None):
        super().__init__()
        self.config = cfg = config or LossConfig()
        self.error = PhotometricError(cfg.ssim_weight, cfg.pointwise, cfg.charbonnier_eps)
        self.reprojection = MinReprojection(cfg.min_reprojection, cfg.automask, cfg.identity_noise)
        self.smoothness = EdgeAwareSmoothness()
        self.feature_warp = FeatureWarpLoss(self.error)
        self.contrastive = PixelwiseContrastiveLoss(
            cfg.contrastive_margin, cfg.contrastive_positives, cfg.contrastive_negatives,
            cfg.contrastive_radius)
        self.explainability = ExplainabilityLoss()
        self.bidirectional = BidirectionalConsistency(
            cfg.occlusion_alpha1, cfg.occlusion_alpha2, self.error)
        self.velocity = VelocitySupervision(cfg.velocity_tolerance)
        self.camera_height = CameraHeightLoss(cfg.camera_height)

    @property
    def uses_features(self):
        """Whether a term reads FeatNet's outputs (not so in the no-feature ablation)."""
        return self.config.uses_features

    @property
    def needs_source_depth(self):
        """Whether the networks must also predict source depth (seed-001 terms)."""
        return self.config.bidirectional

    def forward(self, outputs, target, sources, k_norm, to_depth, distances=None, labels=None,
                truth=None):
        """
        Return (total scalar, dict of detached named terms), computed in float32.

        The networks may have run in reduced precision (autocast): the loss and its geometry
        always compute in float32, whatever the caller's autocast state.

        :param outputs: TrainOutputs of DeFeatNet.forward_train for this batch.
        :param target: B x 3 x H x W frame t.
        :param sources: list of S frames B x 3 x H x W.
        :param k_norm: B x 3 x 3 intrinsics normalised by image size.
        :param to_depth: maps sigmoid disparity to metric depth (DeFeatNet.to_depth).
        :param distances: B x S metres travelled from the target to each source, NaN unknown
            (the samples' ``distances``); None: unknown. Known ones add the velocity term;
            rows without any, the camera-height term.
        :param labels: B x H x W train ids of the target (the samples' ``labels``, uint8,
            255 unknown); None: all unknown. Read by the segmentation and semantic terms.
        :param truth: B x 1 x H x W exact depth of the target (the samples' ``depth``, 0 where
            unknown); None: unknown. Read by the depth supervision.
        """
        with torch.autocast(target.device.type, enabled=False):
            return self.float32_loss(outputs.to_float(), target.float(),
                                     [source.float() for source in sources], k_norm.float(),
                                     to_depth, distances, labels, truth)

    def float32_loss(self, outputs, target, sources, k_norm, to_depth, distances=None,
                     labels=None, truth=None):
        """:meth:`forward` on float32 inputs, outside autocast."""
        cfg = self.config
        h, w = target.shape[-2:]
        k_pix = scale_intrinsics(k_norm, h, w)
        if outputs.segmentation is not None or cfg.uses_classes:
            labels = known_labels(labels, target)
        classes = class_map(labels, outputs.segmentation) if cfg.uses_classes else None
        static = 1.0 - movable_mask(classes) if cfg.mask_movable else None
        identity = stack([self.error(source, target) for source in sources])
        zero = target.new_zeros(())
        names = ('photometric', 'smoothness', 'feature_warp', 'contrastive', 'explainability')
        terms = {name: zero for name in names}
        if cfg.sky_weight:
            terms['sky'] = zero
        supervised = cfg.depth_supervision_weight and truth is not None
        if supervised:
            terms['depth_supervision'] = zero
        for scale in range(cfg.scales):
            disparity = outputs.disparities[scale]
            full_disparity = resize(disparity, h, w)
            depth = to_depth(full_disparity)
            if supervised:
                terms['depth_supervision'] = terms['depth_supervision'] + log_depth_error(
                    depth, truth.float())
                if cfg.depth_gradient_weight and scale == 0:
                    terms['depth_supervision'] = (
                        terms['depth_supervision']
                        + cfg.depth_gradient_weight * log_depth_gradient_error(depth,
                                                                               truth.float()))
            matches = [correspondences(depth, pose, k_pix) for pose in outputs.poses]
            errors = stack([self.error(sample(source, pixels), target)
                            for source, (pixels, _) in zip(sources, matches)])
            if cfg.explainability:
                masks = stack([resize(mask[scale], h, w) for mask in outputs.explainability])
                errors = self.explainability.weight_errors(errors, masks)
                terms['explainability'] = (terms['explainability']
                                           + self.explainability.regulariser(masks))
            chosen = self.reprojection(errors, identity)
            terms['photometric'] = terms['photometric'] + (
                chosen.loss.mean() if static is None else masked_mean(chosen.loss, static))
            image = resize(target, *disparity.shape[-2:])
            boundaries = (resize_classes(classes, *disparity.shape[-2:])
                          if cfg.semantic_smoothness else None)
            terms['smoothness'] = (terms['smoothness'] + cfg.smoothness_weight / 2 ** scale
                                   * self.smoothness(disparity, image, boundaries))
            if cfg.sky_weight:
                terms['sky'] = terms['sky'] + masked_mean(full_disparity, sky_mask(classes))
            in_view = torch.gather(stack([valid for _, valid in matches]), 1, chosen.source)
            counted = in_view * chosen.automask if cfg.correspondences == 'automask' else in_view
            if cfg.feature_warp_weight and scale < cfg.feature_warp_scales:
                warped = [sample(features, pixels)
                          for features, (pixels, _) in zip(outputs.source_features, matches)]
                terms['feature_warp'] = terms['feature_warp'] + self.feature_warp(
                    outputs.features, warped, chosen.source, counted)
            if cfg.contrastive_weight and scale == 0:
                terms['contrastive'] = sum(
                    self.contrastive(outputs.features, features, pixels.detach(),
                                     counted * (chosen.source == i).to(counted.dtype))
                    for i, (features, (pixels, _)) in enumerate(
                        zip(outputs.source_features, matches))) / len(sources)
        # Each term is reported as its mean over the scales (or sources) it was computed at.
        counts = {'feature_warp': cfg.feature_warp_scales, 'contrastive': 1}
        terms = {name: value / counts.get(name, cfg.scales) for name, value in terms.items()}
        feature_warp_weight, contrastive_weight = cfg.feature_weights(len(sources))
        total = (terms['smoothness'] + feature_warp_weight * terms['feature_warp']
                 + contrastive_weight * terms['contrastive'])
        if cfg.explainability:
            total = total + cfg.explainability_weight * terms['explainability']
        if cfg.velocity_weight:
            if distances is None:
                distances = target.new_full((len(target), len(sources)), float('nan'))
            terms['velocity'] = self.velocity(outputs.poses, distances.float())
            total = total + cfg.velocity_weight * terms['velocity']
        if cfg.camera_height_weight:
            # Speed wins where the velocity term reads it: the height supervises the other rows.
            rows = (~distances.isfinite().any(dim=1) if cfg.velocity_weight
                    else torch.ones(len(target), dtype=torch.bool, device=target.device))
            depth = to_depth(resize(outputs.disparities[0], h, w))
            terms['camera_height'] = self.camera_height(
                depth[rows], k_norm[rows], [pose[rows] for pose in outputs.poses])
            total = total + cfg.camera_height_weight * terms['camera_height']
        if cfg.sky_weight:
            total = total + cfg.sky_weight * terms['sky']
        if supervised:
            total = total + cfg.depth_supervision_weight * terms['depth_supervision']
        if outputs.pretext is not None:
            tasks = pretext_losses(outputs.pretext, cfg.charbonnier_eps)
            terms.update({f'pretext_{task}': value for task, value in tasks.items()})
            terms['pretext'] = sum(tasks.values())
            total = total + cfg.pretext_weight * terms['pretext']
        if outputs.segmentation is not None:
            weights = (unet_weights(labels, cfg.boundary_weight, cfg.boundary_sigma)
                       if cfg.segmentation_weighting == 'unet' else None)
            terms['segmentation'] = segmentation_loss(outputs.segmentation, labels, weights)
            total = total + cfg.segmentation_weight * terms['segmentation']
        if cfg.bidirectional:
            total = total + self.bidirectional_terms(outputs, target, sources, k_norm, to_depth,
                                                     terms)
        else:
            total = total + terms['photometric']
        terms['total'] = total
        return total, {name: value.detach() for name, value in terms.items()}

    def bidirectional_terms(self, outputs, target, sources, k_norm, to_depth, terms):
        """Weighted seed-001 terms at full resolution, averaged over sources (fills ``terms``)."""
        cfg = self.config
        depth = to_depth(outputs.disparities[0])
        parts = [self.bidirectional(target, source, depth, to_depth(source_disparity), pose,
                                    k_norm, outputs.encoder_features, source_encoder)
                 for source, source_disparity, pose, source_encoder in zip(
                     sources, outputs.source_disparities, outputs.poses,
                     outputs.source_encoder_features)]
        count = len(parts)
        terms['bidirectional_photometric'] = sum(p.photometric for p in parts) / count
        terms['depth_consistency'] = sum(p.depth_consistency for p in parts) / count
        terms['feature_perception'] = sum(p.feature_perception for p in parts) / count
        return (cfg.bidirectional_weight * terms['bidirectional_photometric']
                + cfg.depth_consistency_weight * terms['depth_consistency']
                + cfg.feature_perception_weight * terms['feature_perception'])
