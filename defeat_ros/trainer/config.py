"""TrainConfig: everything a training run needs, loadable from config/train/*.yaml."""

from dataclasses import dataclass, field

from defeat_ros.losses import LossConfig
from defeat_ros.nets import ModelConfig
from defeat_ros.typed_config import TypedConfig
import torch

AMP_DTYPES = {'auto': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}
"""Choices of OptimConfig.amp_dtype and the dtypes they name."""


@dataclass
class DataConfig(TypedConfig):
    """Which frames to train on and how to batch them."""

    dataset: str = 'synthetic'
    """A name of defeat_ros.data.datasets.DATASETS: kitti, robotcar, image_folder, rosbag,
    synthetic."""
    source: dict = field(default_factory=dict)
    """The dataset's source config as a mapping (e.g. root and split for kitti, paths and
    topics for rosbag, lighting and frames for synthetic); docs/train_config.md lists them."""
    offsets: list = field(default_factory=lambda: [-1, 1])
    """Source frame offsets relative to the target; their signs set the pose pair order."""
    augment: dict = field(default_factory=dict)
    """Colour jitter and flip settings of the network inputs (AugmentConfig fields)."""
    batch_size: int = 12
    """Frame tuples per step (per process with several GPUs)."""
    workers: int = 4
    """Data loading worker processes (0 loads in the training process)."""


@dataclass
class OptimConfig(TypedConfig):
    """Adam with a step learning-rate schedule, clipping and mixed precision."""

    learning_rate: float = 1e-4
    """Initial Adam learning rate."""
    step_size: int = 15
    """Epochs between learning-rate drops."""
    gamma: float = 0.1
    """Learning-rate multiplier at each drop."""
    grad_clip: float = 10.0
    """Clip the global gradient norm to this (0 disables)."""
    amp: bool = True
    """
    Automatic mixed precision: the networks run under autocast in ``amp_dtype``; losses and
    geometry compute in float32. fp16 adds loss scaling (GradScaler)."""
    amp_dtype: str = 'auto'
    """
    Autocast dtype with ``amp``: 'auto' (fp16 on CUDA, bf16 on the CPU, fast where the CPU
    has AVX-512 BF16 or AMX), 'bf16' or 'fp16'."""

    channels_last: bool = False
    """
    Keep the networks' weights and inputs in channels-last memory layout (NHWC), which some
    CPU and GPU convolution kernels run faster in; benchmarks/train_speed.py measures it."""
    ema_decay: float = 0.0
    """
    Average the weights from step ``ema_start`` on (exponential moving average: the old
    average's weight per step, about 1 / (1 - decay) steps count; 0: off). Validation, the
    checkpoint's model and the run's result are then the average."""
    ema_start: int = 0
    """The first step whose weights enter the average (``ema_decay``)."""

    def __post_init__(self):
        """Reject an unknown autocast dtype and a decay outside [0, 1)."""
        if self.amp_dtype not in AMP_DTYPES:
            raise ValueError(f'amp_dtype must be one of {tuple(AMP_DTYPES)}, '
                             f'got {self.amp_dtype!r}')
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f'ema_decay must be in [0, 1), got {self.ema_decay}')

    def autocast_dtype(self, device_type):
        """Return the torch dtype the networks run in on ``device_type``, or None for fp32."""
        if not self.amp:
            return None
        if self.amp_dtype == 'auto':
            return torch.float16 if device_type == 'cuda' else torch.bfloat16
        return AMP_DTYPES[self.amp_dtype]


@dataclass
class TrainConfig(TypedConfig):
    """A training run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    """Architecture and resolution of the trained model."""
    loss: LossConfig = field(default_factory=LossConfig)
    """The self-supervised objective (DeFeat-Net by default; switches for the variants)."""
    data: DataConfig = field(default_factory=DataConfig)
    """Training frames."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimiser settings."""
    epochs: int = 20
    """Passes over the training set."""
    max_steps: int = 0
    """Stop after this many optimisation steps (0: run all epochs)."""
    seed: int = 0
    """Seed of weights, sampling and augmentation (process rank is added)."""
    out: str = 'runs/defeat'
    """Output folder: checkpoint/ (a model directory, also the final one) and logs/."""
    log_every: int = 50
    """Steps between progress lines and scalar logs."""
    image_every: int = 500
    """Steps between image logs (depth, feature PCA, warped frames)."""
    checkpoint_every: int = 1000
    """Steps between checkpoints (also written at the end of every epoch)."""
    nan_patience: int = 10
    """Consecutive non-finite losses tolerated (each step is skipped) before stopping."""
    resume: bool = True
    """Continue from out/checkpoint when it exists."""
    validation: dict = field(default_factory=dict)
    """
    A held-out set, given as the ``data.source`` fields that differ for it: ``{seeds: [100]}``
    (another synthetic street), ``{split: .../val_files.txt}`` (KITTI), ``{paths: [...]}``
    (other bags). Read without augmentation. Empty: no validation."""
    validate_every: int = 500
    """
    Steps between validations: the held-out self-supervised loss and, where the held-out set
    has ground-truth depth, median-scaled AbsRel and delta < 1.25 (``a1``); printed and logged
    as ``val/loss``, ``val/abs_rel``, ``val/a1``."""
    validation_samples: int = 32
    """
    Held-out samples per validation, evenly spaced over the set, the same ones every time (at
    most the set's size)."""
    init_from: str = ''
    """Model directory whose weights start the run (fine-tuning); its networks must match
    ``model`` up to the resolution. A resumed checkpoint wins. '' : fresh weights."""
