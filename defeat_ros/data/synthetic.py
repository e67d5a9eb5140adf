"""
The synthetic street world as a training set with exact ground-truth depth (day, night, both).

``SyntheticDataset(SyntheticConfig(...), SampleConfig(...))`` renders one drive per seed and
lighting with :func:`~defeat_ros.data.street_world.render_sequence` (``both`` renders the
paired day and night drives of each seed: same street, same trajectory) and serves them like
any other dataset, with ``depth`` in every sample (0 where there is no depth: the sky), the
rendered classes as ``labels`` (train ids; all IGNORE for sequences without ``labels``), and
with the speed a simulated wheel odometry measures at each frame
(:mod:`defeat_ros.data.wheel_speed`, seeded by the drive's seed), as a bag of the drive would
record it, for the velocity supervision (``wheel_speed``).
:meth:`SyntheticDataset.from_sequences` wraps :class:`FrameSequence` s rendered elsewhere.
Rendering takes about a second per 25 frames at 640 x 192 on a 2-core CPU; frames are kept
as uint8 (H x W x 3 bytes each), depth as float32 and classes as uint8.
"""

from dataclasses import dataclass, field, replace
import random

from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.sample import as_sample_config
from defeat_ros.data.sequence_dataset import FrameSource, SequenceDataset
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.data.wheel_speed import wheel_speeds_at, WheelOdometryConfig
from defeat_ros.typed_config import TypedConfig

LIGHTINGS = ('day', 'night', 'both')


@dataclass
class SyntheticConfig(TypedConfig):
    """Which synthetic drives to render."""

    lighting: str = 'day'
    """'day', 'night', or 'both' (the paired day and night drive of every seed)."""
    seeds: list = field(default_factory=lambda: [0])
    """One drive per seed (street layout, trajectory and noise)."""
    frames: int = 50
    """Frames per drive."""
    render_height: int = 0
    """Rendered image height; 0: the training height (no resizing)."""
    render_width: int = 0
    """Rendered image width; 0: the training width."""
    world: dict = field(default_factory=dict)
    """Further WorldConfig fields (fx, fy, cx, cy, fps, speeds, moving_cars, motion_blur...)."""
    world_ranges: dict = field(default_factory=dict)
    """
    Domain randomisation: numeric WorldConfig fields mapped to [low, high]; every seed's drive
    (day and night alike) draws each uniformly, from a generator of its seed, e.g.
    ``{camera_height: [1.2, 2.0]}``. A field set in ``world`` too takes its range."""
    wheel_speed: bool = True
    """Give the frames the speed a simulated wheel odometry (default errors, seeded by the drive)
    measures, for velocity supervision (defeat_ros/data/wheel_speed.py); false: no speed."""

    def __post_init__(self):
        """Check the lighting and the world fields."""
        if self.lighting not in LIGHTINGS:
            raise ValueError(f'lighting must be one of {LIGHTINGS}, got {self.lighting!r}')
        clash = sorted((set(self.world) | set(self.world_ranges))
                       & {'width', 'height', 'frames', 'seed', 'night'})
        if clash:
            raise ValueError(f'set {clash} through the SyntheticConfig fields, not world')
        base = WorldConfig.from_dict(self.world)
        for name, bounds in self.world_ranges.items():
            if not isinstance(getattr(base, name, None), float):
                raise ValueError(f'world_ranges: {name!r} is not a real-valued WorldConfig field')
            if len(bounds) != 2 or not float(bounds[0]) <= float(bounds[1]):
                raise ValueError(f'world_ranges: {name} needs [low, high], got {bounds}')
        self.world_for(0)  # fails early on ranges no draw can satisfy; a range valid only
        # for some draws (min_speed above some max_speed) fails when that drive is rendered
        self.seeds = [int(seed) for seed in self.seeds]

    def world_for(self, seed):
        """
        Return the WorldConfig of ``seed``'s drive: ``world`` with ``world_ranges`` drawn.

        :return: a WorldConfig (its size, frames, seed and lighting still to be set).
        """
        draws = random.Random(seed)
        drawn = {name: draws.uniform(float(low), float(high))
                 for name, (low, high) in sorted(self.world_ranges.items())}
        return WorldConfig.from_dict({**self.world, **drawn})


class FrameSequenceSource(FrameSource):
    """
    A :class:`~defeat_ros.data.frame_sequence.FrameSequence` as a frame source.

    :param sequence: the rendered frames with their ground truth.
    :param name: the sequence's name in sample names.
    :param wheel: a :class:`~defeat_ros.data.wheel_speed.WheelOdometryConfig`: give the frames
        the speeds that simulated sensor measures; None: no speed.
    """

    def __init__(self, sequence, name, wheel=None):
        """Keep the frames as uint8 and the depth as float32; simulate the speeds."""
        self.name = name
        self.night = bool(sequence.night)
        self.frames = images_uint8(sequence.images)
        self.depths = sequence.depths[:, 0].detach().float().cpu().numpy()
        self.k_norm = sequence.k_norm.detach().float().cpu()
        self.stamps = sequence.stamps.detach().double().cpu().numpy()
        self.count = len(sequence)
        self.has_depth = True
        self.label_maps = (None if sequence.labels is None
                           else sequence.labels[:, 0].detach().cpu().numpy().astype('uint8'))
        self.has_labels = self.label_maps is not None
        if wheel is not None:
            self.speeds = wheel_speeds_at(sequence, self.stamps, wheel)
            self.speed_source = (f'simulated wheel odometry ({wheel.rate:g} Hz, scale error '
                                 f'{wheel.scale_error:+.1%}, noise {wheel.speed_noise:g} m/s)')

    def image(self, index):
        """Return frame ``index`` as RGB uint8."""
        return self.frames[index]

    def depth(self, index):
        """Return the exact depth of frame ``index`` (metres, inf where nothing is hit)."""
        return self.depths[index]

    def labels(self, index):
        """Return the rendered classes of frame ``index`` (label-file ids), or None."""
        return None if self.label_maps is None else self.label_maps[index]

    def frame_name(self, index):
        """Return the drive and frame number."""
        return f'{self.name} {index:06d}'


class SyntheticDataset(SequenceDataset):
    """
    Training samples from rendered street drives, with ground-truth depth.

    :param config: a :class:`SyntheticConfig` (or a mapping of one).
    :param sample: a :class:`~defeat_ros.data.sample.SampleConfig` (or a mapping, or None).
    """

    Config = SyntheticConfig

    def __init__(self, config=None, sample=None):
        """Render the configured drives."""
        if config is None:
            config = SyntheticConfig()
        elif isinstance(config, dict):
            config = SyntheticConfig.from_dict(config)
        self.source_config = config
        sample = as_sample_config(sample)
        nights = {'day': [False], 'night': [True], 'both': [False, True]}[config.lighting]
        sources = []
        for seed in config.seeds:
            for night in nights:
                world = replace(config.world_for(seed), width=config.render_width or sample.width,
                                height=config.render_height or sample.height,
                                frames=config.frames, seed=seed, night=night)
                name = f'synthetic/{"night" if night else "day"}/seed{seed}'
                wheel = WheelOdometryConfig(seed=seed) if config.wheel_speed else None
                sources.append(FrameSequenceSource(render_sequence(world), name, wheel))
        super().__init__(sources, sample)

    @classmethod
    def from_sequences(cls, sequences, sample=None, names=None, wheel_speed=True):
        """
        Build a dataset over already rendered FrameSequences.

        :param sequences: the :class:`~defeat_ros.data.frame_sequence.FrameSequence` s.
        :param sample: a SampleConfig (or a mapping, or None).
        :param names: one name per sequence (default: ``synthetic/<day|night>/<number>``).
        :param wheel_speed: give the frames simulated wheel speeds (seeded by the sequence's
            number), as :attr:`SyntheticConfig.wheel_speed`.
        :return: the dataset.
        """
        dataset = cls.__new__(cls)
        dataset.source_config = None
        names = names or [f'synthetic/{"night" if s.night else "day"}/{number}'
                          for number, s in enumerate(sequences)]
        sources = [FrameSequenceSource(s, name, WheelOdometryConfig(seed=number)
                                       if wheel_speed else None)
                   for number, (s, name) in enumerate(zip(sequences, names))]
        SequenceDataset.__init__(dataset, sources, sample)
        return dataset
