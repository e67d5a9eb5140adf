"""``defeat-ros export``: ONNX graphs (and int8 versions) beside a model's weights."""

from dataclasses import dataclass

from defeat_ros.apps.arguments import add_options, config_from_args
from defeat_ros.runtime.calibration import calibration_frames
from defeat_ros.runtime.onnx_export import export_onnx
from defeat_ros.runtime.quantise import quantise_onnx
from defeat_ros.typed_config import option, TypedConfig


@dataclass
class ExportConfig(TypedConfig):
    """Which model ``defeat-ros export`` exports, and its int8 calibration."""

    model: str = option('', 'Model directory (config.json + model.safetensors)', flag='MODEL')
    int8: bool = option(False, 'Also write int8 graphs for ONNX Runtime and OpenVINO, '
                        'calibrated on frames')
    calibration_images: str = option('', 'Folder of PNG/JPEG frames from the deployment camera '
                                     'for int8 calibration; empty: synthetic street frames, '
                                     'day and night')
    calibration_frames: int = option(16, 'Number of calibration frames', minimum=1,
                                     maximum=10000)

    def __post_init__(self):
        """Check every option."""
        self.check_options()


def add_arguments(parser):
    """Add the options of ``defeat-ros export`` (those of ExportConfig)."""
    add_options(parser, ExportConfig)


def run(args):
    """Export the model's graphs, then (with int8) calibrate and quantise them."""
    config = config_from_args(ExportConfig, args)
    for graph, path in export_onnx(config.model).items():
        print(f'{graph}: {path}')
    if config.int8:
        frames = calibration_frames(config.model, config.calibration_frames,
                                    config.calibration_images or None)
        for int8_format in ('qoperator', 'openvino'):
            for graph, path in quantise_onnx(config.model, frames,
                                             int8_format=int8_format).items():
                print(f'{graph} (int8, {int8_format}): {path}')
