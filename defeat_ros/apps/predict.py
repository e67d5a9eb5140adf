"""``defeat-ros predict``: depth of images, folders of images and videos, as files."""

from dataclasses import dataclass

from defeat_ros.apps.arguments import add_options, config_from_args
from defeat_ros.camera.options import PerceptionOptions
from defeat_ros.camera.predict import FORMATS, predict_files
from defeat_ros.messages.decode import parameter_intrinsics
from defeat_ros.typed_config import comma_list, option


@dataclass
class PredictConfig(PerceptionOptions):
    """What ``defeat-ros predict`` reads and writes, and the model that runs."""

    inputs: list = option([], 'Images, folders of images, glob patterns or videos', flag='INPUT',
                          repeat=True)
    out: str = option('', 'Output folder', required=True)
    formats: list = option(['png', 'preview'], 'Files per frame, comma-separated: png (16-bit '
                           'depth in millimetres), npy (float32 metres), preview (input above '
                           'colour-mapped depth), features (PCA of the dense features)')
    video: bool = option(True, 'For each video, also write <video>_preview.mp4',
                         flag='--no-video')
    max_frames: int = option(0, 'Frames read from each video; 0: all', minimum=0,
                             maximum=10000000)
    intrinsics: list = option([], 'Normalised fx,fy,cx,cy of the camera (for --scale-mode '
                              'camera_height, and for metres from a camera whose fy differs '
                              "from the model's training camera); empty: none")
    quiet: bool = option(False, 'No progress bar')

    def __post_init__(self):
        """Read the comma-separated lists and check every option."""
        self.formats = comma_list(self.formats, name='formats')
        unknown = sorted(set(self.formats) - set(FORMATS))
        if unknown or not self.formats:
            raise ValueError(f'--formats must be some of {", ".join(FORMATS)}, got '
                             f'{", ".join(unknown) or "none"}')
        self.intrinsics = comma_list(self.intrinsics, float, 'intrinsics')
        if self.intrinsics and len(self.intrinsics) != 4:
            raise ValueError(f'--intrinsics needs four numbers fx,fy,cx,cy, got '
                             f'{self.intrinsics}')
        if self.scale_mode == 'camera_height' and not self.intrinsics:
            raise ValueError('--scale-mode camera_height needs --intrinsics fx,fy,cx,cy')
        self.check_options()


def add_arguments(parser):
    """Add the options of ``defeat-ros predict`` (those of PredictConfig)."""
    add_options(parser, PredictConfig)


def run(args):
    """Predict depth for every frame of the inputs."""
    config = config_from_args(PredictConfig, args)
    k_norm = parameter_intrinsics(*config.intrinsics) if config.intrinsics else None
    predict_files(config.inputs, config.out, config, config.formats, config.video, k_norm,
                  config.max_frames, progress=not config.quiet)
