"""
The options the node and process-bag share, documented once.

The model and how it runs (:class:`PerceptionOptions`), and what the per-frame step outputs
(:class:`OutputOptions`).

The node's parameters (:class:`~defeat_ros.ros.node_config.NodeConfig`) and process-bag's
options (:class:`~defeat_ros.camera.process_config.ProcessConfig`) both extend these, so a
shared name has one default, one description and one set of constraints.
"""

from dataclasses import dataclass

from defeat_ros.runtime.backends import BACKENDS
from defeat_ros.runtime.perception import SCALE_MODES
from defeat_ros.typed_config import option, TypedConfig

PRECISIONS = ('fp32', 'fp16', 'bf16', 'int8')
"""Numeric precisions a backend may run."""


@dataclass
class PerceptionOptions(TypedConfig):
    """Which model runs, where, and where its metric scale comes from."""

    model: str = option('', 'Model directory (config.json + *.safetensors); empty: the default '
                        'model in share/defeat_ros/models/default', read_only=True)
    backend: str = option('auto', 'Inference backend', choices=BACKENDS, read_only=True)
    device: str = option('auto', 'Device: auto, cpu, cuda or cuda:<index>',
                         pattern=r'auto|cpu|cuda(:\d+)?', read_only=True)
    precision: str = option('fp32', 'Numeric precision: fp32, fp16 (GPU backends), bf16 (CPU '
                            'PyTorch) or int8 (ONNX Runtime); the backend rejects what it '
                            'cannot run', choices=PRECISIONS, read_only=True)
    scale_mode: str = option('model', 'Where metric depth and odometry scale comes from: model '
                             '(the scale it was trained at) or camera_height (a ground plane '
                             'fitted to the depth at camera_height below the camera)',
                             choices=SCALE_MODES)
    camera_height: float = option(1.65, 'Height of the camera above the ground (m), for '
                                  'scale_mode camera_height', minimum=0.05, maximum=100.0)


@dataclass
class OutputOptions(TypedConfig):
    """What the per-frame step builds: sizes, point density, odometry frames and tracking."""

    output_resolution: str = option('input', 'Size of the published depth and features: '
                                    "'input' (the camera image's) or 'model' (the network's)",
                                    choices=('input', 'model'))
    point_stride: int = option(4, 'Keep every point_stride-th pixel in both directions for '
                               'points', minimum=1, maximum=64)
    odom_frame: str = option('odom', 'Fixed frame of the odometry (REP-105)', pattern=r'\S+')
    base_frame: str = option('base_link', 'Body frame whose motion the odometry reports '
                             '(REP-105)', pattern=r'\S+')
    max_gap_s: float = option(0.5, 'A gap between frames longer than this (s) restarts '
                              'odometry tracking', minimum=0.001, maximum=3600.0,
                              flag='--max-gap')
