"""
ModelConfig: everything needed to rebuild a DeFeatNet, stored as a model's config.json.

Free of torch, so that the runtime reads a model's configuration without importing it.
"""

from dataclasses import dataclass, field

from defeat_ros.typed_config import TypedConfig

PRETEXTS = ('none', 'reconstruction', 'colourisation', 'both')
"""Choices of ModelConfig.pretext."""

DECODERS = ('monodepth', 'fast')
"""
Decoder styles (ModelConfig.decoder): 'monodepth', reflection-padded 3x3 convolutions with ELU
(Monodepth2, DeFeat-Net: no border artefacts); 'fast', zero padding and ReLU, which inference
runtimes fuse into the convolution (no separate padding and activation passes over every map,
and int8 convolutions stay in int8 between layers)."""

TRANSLATION_SCALINGS = ('none', 'mean_inverse_depth')
"""Choices of ModelConfig.translation_scaling."""

METRIC_SCALES = ('none', 'velocity', 'camera_height', 'depth_supervision')
"""Choices of ModelConfig.metric_scale: where a model's depth and translation scale come from."""

UNIT_FIELDS = ('min_depth', 'max_depth', 'initial_depth')
"""The ModelConfig fields in the unit of depth: a change of unit (:mod:`defeat_ros.nets.rescale`)
multiplies them and nothing else of the configuration."""


@dataclass
class ModelConfig(TypedConfig):
    """Architecture, resolution and output ranges of a DeFeat-Net model."""

    depth_layers: int = 18
    """ResNet depth (18, 34 or 50) of the DepthNet encoder."""
    feat_layers: int = 18
    """ResNet depth of the FeatNet encoder."""
    pose_layers: int = 18
    """ResNet depth of the PoseNet encoder."""
    encoder_width: int = 64
    """
    Stem channels of every ResNet encoder (decoders scale along): 64 is the standard ResNet
    (ImageNet weights load); 32 or 16 make small, fast models."""
    feature_dims: int = 32
    """Channels n of the dense, L2-normalised feature map."""
    shared_encoder: bool = False
    """
    FeatNet decodes DepthNet's encoder maps instead of having an encoder of its own (then
    ``feat_layers`` is unused): one ResNet less to run for depth and features, which the
    'depth_features' graph runs once. DeFeat-Net: False (three encoders)."""
    feature_stride: int = 1
    """
    Stride of the feature decoder's finest level: 1 decodes at full resolution (DeFeat-Net); 2
    stops at half resolution and upsamples bilinearly to H x W (then re-normalises), so the
    features keep their size and unit norm for a cheaper decoder."""
    pose_stride: int = 1
    """
    PoseNet reads the frame pair average-pooled by this factor: 1 (DeFeat-Net) or 2 (a quarter
    of its encoder's work; height and width must then be multiples of 64)."""
    decoder: str = 'monodepth'
    """
    Style of every skip decoder (one of ``DECODERS``): 'monodepth',
    reflection padding and ELU (Monodepth2, DeFeat-Net); 'fast', zero padding and ReLU, which
    ONNX Runtime and TensorRT fuse into the convolutions (see docs/deployment.md)."""
    min_depth: float = 0.1
    """Depth (m) that sigmoid disparity 1 maps to."""
    max_depth: float = 100.0
    """Depth (m) that sigmoid disparity 0 maps to."""
    initial_depth: float = 0.0
    """
    Depth (m) the untrained DepthNet predicts everywhere, set through its output bias; between
    min_depth and max_depth. 0 keeps PyTorch's initialisation: disparity about 0.5, a depth near
    2 x min_depth, from which photometric training alone can collapse to max_depth everywhere
    (see models/README.md). Only affects new networks, not loaded weights."""
    height: int = 192
    """Network input height in pixels (multiple of 32); the training and export resolution."""
    width: int = 640
    """Network input width in pixels (multiple of 32)."""
    pose_scale: float = 0.01
    """
    Factor on PoseNet's raw outputs (axis-angle and translation). 0.01 is Monodepth2's (small
    motions early in training; a new PoseNet predicts none). Trained from scratch on the
    synthetic street, 0.01 and 0.1 left the translations several times too small for the
    predicted depth (which cannot shrink below ``min_depth``), and depth got worse while the
    loss fell; 1.0 keeps the two consistent (the shipped model, see models/README.md)."""
    translation_scaling: str = 'none'
    """
    What PoseNet's translation is multiplied by before it meets depth: 'none', or
    'mean_inverse_depth', the mean of the target frame's full-resolution inverse depth, as
    DeFeat-Net's own code does (jspenmar/DeFeat-Net, per scale there; here the full-resolution
    depth at every scale, so a pose has one value in training and inference). The pose graph
    then runs DepthNet on the newer frame too."""
    explainability: bool = False
    """Add SfMLearner's explainability decoder to PoseNet."""
    pretext: str = 'none'
    """
    TripleDNet (seed 003): 'reconstruction', 'colourisation' or 'both' adds a pretext decoder
    on the DepthNet encoder (shared) with those task heads: the image from the encoder's
    features, and the image's CIE Lab chroma (a*, b*) from the decoder's full-resolution map
    concatenated with the grey-scale image. Its maps at every scale are concatenated into the
    depth decoder's up-convolutions (distillation skip connections), so inference runs the
    pretext decoder (not its heads) too. Trained by ``loss.pretext_weight``. 'none': DeFeat-Net."""
    segmentation: bool = False
    """
    Seed 004: add a semantic segmentation decoder (the 20 train ids of defeat_ros.semantics,
    logits at full resolution) on the DepthNet encoder (shared); trained by
    ``loss.segmentation_weight`` on the samples' ``labels``, read by the loss's semantic terms;
    not used for depth at inference."""
    pose_temporal_order: bool = True
    """
    Feed PoseNet frame pairs in temporal order and invert the motion when the source is earlier
    (Monodepth2 / DeFeat-Net); False always feeds (target, source)."""
    pretrained_encoder: str = ''
    """
    Optional local path of encoder weights: a torchvision ResNet state dict (``.safetensors``
    or a tensors-only ``.pth``: ImageNet weights such as torchvision's own
    ``resnet18-f37072fd.pth``, or the file ``defeat-ros pretrain-encoder`` writes) that
    initialises all three encoders, so ``depth_layers``, ``feat_layers`` and ``pose_layers``
    must all be its depth and ``encoder_width`` its width (64 for ImageNet weights; a tensor of
    another shape is named in the error). Nothing is downloaded; docs/training.md says how to
    make the file. '': random encoders."""
    metric_scale: str = 'none'
    """
    Where the scale of depth and translation comes from: 'velocity' (trained with the vehicle's
    speed: metres), 'camera_height' (trained with the road at the camera's mounting height:
    metres), 'depth_supervision' (trained with exact depth in metres, such as the synthetic
    world's), 'none' (self-supervision alone: the scale is arbitrary; median scaling or
    ``scale_mode: camera_height`` give metres). Set by training; not part of the architecture."""
    camera_focal_y: float = 0.0
    """
    The training camera's vertical focal length over its image height (``fy / H`` of its
    normalised intrinsics; the synthetic street's and KITTI's 1.92). A camera with another
    ``fy / H`` shows the road at the same image rows at another distance: Perception multiplies
    depth by the camera's ``fy / H`` over this one (direct alignment then gives the translation
    the same metres). 0: not recorded, no such correction (a model trained on cameras that
    differ). Set by training from its frame sources, whatever a config says; not part of the
    architecture."""
    provenance: dict = field(default_factory=dict)
    """Free-form record of how the weights were made (command, config, data, commit)."""

    def __post_init__(self):
        """Reject configurations no network can be built for."""
        for name in ('depth_layers', 'feat_layers', 'pose_layers'):
            if getattr(self, name) not in (18, 34, 50):
                raise ValueError(f'{name} must be 18, 34 or 50, got {getattr(self, name)}')
        if self.height % 32 or self.width % 32 or self.height <= 0 or self.width <= 0:
            raise ValueError(f'height and width must be positive multiples of 32, '
                             f'got {self.height}x{self.width}')
        if not 0 < self.min_depth < self.max_depth:
            raise ValueError(f'need 0 < min_depth < max_depth, '
                             f'got {self.min_depth}, {self.max_depth}')
        if self.initial_depth and not self.min_depth < self.initial_depth < self.max_depth:
            raise ValueError(f'initial_depth must lie between min_depth and max_depth (or be 0), '
                             f'got {self.initial_depth}')
        if self.encoder_width not in (16, 32, 64):
            raise ValueError(f'encoder_width must be 16, 32 or 64, got {self.encoder_width}')
        if self.translation_scaling not in TRANSLATION_SCALINGS:
            raise ValueError(f'translation_scaling must be one of {TRANSLATION_SCALINGS}, '
                             f'got {self.translation_scaling!r}')
        if self.camera_focal_y < 0:
            raise ValueError(f'camera_focal_y must be >= 0, got {self.camera_focal_y}')
        if self.metric_scale not in METRIC_SCALES:
            raise ValueError(f'metric_scale must be one of {METRIC_SCALES}, '
                             f'got {self.metric_scale!r}')
        if self.pretext not in PRETEXTS:
            raise ValueError(f'pretext must be one of {PRETEXTS}, got {self.pretext!r}')
        if self.decoder not in DECODERS:
            raise ValueError(f'decoder must be one of {DECODERS}, got {self.decoder!r}')
        if self.feature_stride not in (1, 2):
            raise ValueError(f'feature_stride must be 1 or 2, got {self.feature_stride}')
        if self.pose_stride not in (1, 2):
            raise ValueError(f'pose_stride must be 1 or 2, got {self.pose_stride}')
        if self.pose_stride == 2 and (self.height % 64 or self.width % 64):
            raise ValueError(f'pose_stride 2 needs height and width that are multiples of 64, '
                             f'got {self.height}x{self.width}')
        if self.pose_stride != 1 and self.explainability:
            raise ValueError('explainability masks need pose_stride 1 (they cover the target '
                             'frame at full resolution)')
        if self.feature_dims < 1:
            raise ValueError(f'feature_dims must be positive, got {self.feature_dims}')


def pose_inverted(config, source_is_earlier):
    """
    Whether a model with ``config`` feeds PoseNet (source, target) and inverts its motion.

    :param source_is_earlier: the source frame comes before the target frame in time.
    """
    return config.pose_temporal_order and source_is_earlier
