"""What ``defeat-ros process-bag`` is asked to do (:class:`ProcessConfig`) and what it did."""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from defeat_ros.bags.writer import STORAGES
from defeat_ros.camera.frame_step import OUTPUT_TOPICS
from defeat_ros.camera.options import OutputOptions, PerceptionOptions
from defeat_ros.typed_config import comma_list, option


TOPIC_KEYS = {topic: key for key, (_, topic) in OUTPUT_TOPICS.items()}
"""Output key of each relative output topic."""


DEFAULT_OUTPUTS = ('depth/image', 'depth/visual', 'depth/camera_info', 'features/visual',
                   'features/camera_info', 'odometry', 'points')
"""
Outputs written unless asked otherwise (relative topic names).

Both visuals, as the node publishes them (``publish_visuals``): the bag replays in RViz like the
live node, without choosing a range for 32FC1 depth.
"""


@dataclass
class ProcessConfig(OutputOptions, PerceptionOptions):
    """How to process a bag: the node's shared options, then process-bag's own."""

    storage: str = option('mcap', 'Storage of the output bag', choices=tuple(STORAGES))
    image_topic: str = option('', "Image or CompressedImage topic; empty: the bag's only colour "
                              'image topic')
    camera_info_topic: str = option('', 'CameraInfo topic; empty: the only one, or the one '
                                    'beside the image topic')
    namespace: str = option('', "Namespace of the output topics; empty: the image topic's "
                            'camera namespace (/camera for /camera/image_raw); /: none')
    outputs: list = option(list(DEFAULT_OUTPUTS), 'Output topics to write (comma-separated), '
                           'of: ' + ', '.join(TOPIC_KEYS))
    copy_input: bool = option(True, 'Copy every input message into the output bag',
                              flag='--no-copy')
    intrinsics: list = option([], 'Normalised fx,fy,cx,cy for bags without CameraInfo; empty: '
                              'CameraInfo required')
    speed_topic: str = option('', "The vehicle's speed (Odometry, TwistStamped or "
                              'TwistWithCovarianceStamped) for scale_mode speed; empty: the '
                              "bag's only speed topic")
    preview: bool = option(False, 'Also write <OUT>_preview.png (a few frames: input, depth '
                           'with its colour bar in metres, features) and <OUT>_preview.mp4 (the '
                           'same for up to 100 frames) beside OUT; the bag is the same')

    def __post_init__(self):
        """Accept comma-separated outputs and intrinsics; check every option."""
        self.outputs = comma_list(self.outputs, name='outputs')
        unknown = [name for name in self.outputs if name not in TOPIC_KEYS]
        if unknown or not self.outputs:
            raise ValueError(f'outputs must be some of {", ".join(TOPIC_KEYS)}, '
                             f'got {", ".join(unknown) or "none"}')
        self.intrinsics = comma_list(self.intrinsics, float, 'intrinsics')
        if self.intrinsics and (len(self.intrinsics) != 4 or min(self.intrinsics[:2]) <= 0):
            raise ValueError(f'intrinsics are [fx, fy, cx, cy] normalised, fx and fy > 0, '
                             f'got {self.intrinsics}')
        self.check_options()


@dataclass
class ProcessReport:
    """What :func:`process_bag` did."""

    source: Path
    """The input bag."""
    output: Path
    """The bag written."""
    model: Path = None
    backend: str = ''
    image_topic: str = ''
    camera_info_topic: str = None
    """None when the intrinsics came from the configuration."""
    topics: dict = field(default_factory=dict)
    """Output topic -> message type."""
    total: int = 0
    """Image messages the bag lists (of its readable part, when damaged)."""
    frames: int = 0
    """Frames processed and written."""
    skipped: int = 0
    """Frames that could not be decoded."""
    copied: int = 0
    """Input messages copied into OUT."""
    odometry_restarts: Counter = field(default_factory=Counter)
    """Why odometry tracking restarted (kind -> count), the first frame not counted."""
    warnings: list = field(default_factory=list)
    """Warnings printed (at most WARNINGS_PER_KIND of a kind)."""
    damage: str = ''
    """Why reading stopped before the end of the bag ('' when it did not)."""
    seconds: float = 0.0
    """Wall time of reading, processing and writing (after the model is loaded)."""
    previews: list = field(default_factory=list)
    """Preview files written (with ``preview``)."""
    metric_source: str = ''
    """Where the metres come from (Perception.metric_source); '' : not metric."""
    ground_planes: int = 0
    """Frames on which a ground plane was found (``scale_mode`` camera_height)."""
    scale: float = 1.0
    """The depth's scale factor at the last frame (1 in ``scale_mode`` model)."""
    speed_topic: str = ''
    """The speed topic read (``scale_mode`` speed)."""
    steps_from_speed: int = 0
    """Odometry steps whose length the speed set (``scale_mode`` speed)."""
    steps: int = 0
    """Odometry steps computed (frames with a relative pose)."""

    def summary(self):
        """Return a few lines for people: what was written, how fast, what went wrong."""
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        lines = [f'{self.output}: {self.frames} frames of {self.image_topic} processed with '
                 f'{self.model} on {self.backend} in {self.seconds:.1f} s '
                 f'({rate:.1f} frames/s)',
                 f'  outputs: {", ".join(self.topics)}']
        if self.copied:
            lines.append(f'  copied {self.copied} input messages')
        if self.previews:
            lines.append(f'  preview: {", ".join(map(str, self.previews))}')
        if self.skipped:
            lines.append(f'  skipped {self.skipped} frames that could not be decoded')
        lines.append(f'  {self.scale_line()}')
        if self.odometry_restarts:
            restarts = ', '.join(f'{kind}: {count}'
                                 for kind, count in sorted(self.odometry_restarts.items()))
            lines.append(f'  odometry restarted ({restarts})')
        return '\n'.join(lines)

    def scale_line(self):
        """Return whether depth and odometry are metric, and with camera height how well."""
        if self.metric_source == 'camera height':
            if not self.ground_planes:
                return ('scale: no ground plane found on any frame: depth and odometry are in '
                        "the model's own unit")
            return (f'scale: camera height, a ground plane on {self.ground_planes} of '
                    f'{self.frames} frames ({self.ground_planes / max(self.frames, 1):.0%}); '
                    f'scale {self.scale:.3g} at the last frame')
        if self.metric_source == 'vehicle speed':
            return (f'scale: vehicle speed on {self.speed_topic}: {self.steps_from_speed} of '
                    f'{self.steps} odometry steps as long as it says; depth scale '
                    f'{self.scale:.3g} at the last frame')
        if self.metric_source:
            return f'scale: metres (the model was trained with {self.metric_source})'
        return ("scale: not metric (the model's own unit; --scale-mode camera_height or "
                'speed, or a model fine-tuned with the vehicle speed, gives metres)')
