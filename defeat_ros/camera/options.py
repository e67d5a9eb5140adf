"""
The options the node and process-bag share, documented once.

The model and how it runs (:class:`PerceptionOptions`), and what the per-frame step outputs
(:class:`OutputOptions`).

The node's parameters (:class:`~defeat_ros.ros.node_config.NodeConfig`) and process-bag's
options (:class:`~defeat_ros.camera.process_config.ProcessConfig`) both extend these, so a
shared name has one default, one description and one set of constraints.
"""

from dataclasses import dataclass

from defeat_ros.direct_alignment import POSE_REFINEMENTS
from defeat_ros.geometry import mount_pose
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
                            'PyTorch, OpenVINO) or int8 (ONNX Runtime, OpenVINO, TensorRT); '
                            'the backend rejects what it cannot run', choices=PRECISIONS,
                            read_only=True)
    scale_mode: str = option('model', 'Where metric depth and odometry scale comes from: model '
                             '(the scale it was trained at), camera_height (a ground plane '
                             'fitted to the depth at camera_height below the camera) or speed '
                             "(each odometry step as long as the vehicle's speed integrated "
                             'between the frames says, depth scaled to match; needs '
                             'speed_topic)', choices=SCALE_MODES)
    camera_height: float = option(1.65, 'Height of the camera above the ground (m), for '
                                  'scale_mode camera_height', minimum=0.05, maximum=100.0)
    pose_refinement: str = option('direct', "Odometry: direct (refine PoseNet's relative pose "
                                  'by aligning the previous image to the current one through '
                                  'the metric depth; about 20 ms a frame on one CPU core) or '
                                  "none (PoseNet's pose)", choices=POSE_REFINEMENTS)


@dataclass
class OutputOptions(TypedConfig):
    """What the per-frame step builds: sizes, point density, odometry frames and tracking."""

    output_resolution: str = option('input', 'Size of the published depth (with '
                                    'depth/camera_info, depth/visual and points): '
                                    "'input' (the camera image's) or 'model' (the network's)",
                                    choices=('input', 'model'))
    features_resolution: str = option('model', 'Size of the published features (with '
                                      'features/camera_info and features/visual): '
                                      "'model' (the network's, never resized) or 'input' (the "
                                      "camera image's: 32FC<n> at full size is n times the "
                                      "depth's bytes)", choices=('model', 'input'))
    point_stride: int = option(4, 'Keep every point_stride-th pixel in both directions for '
                               'points', minimum=1, maximum=64)
    odom_frame: str = option('odom', 'Fixed frame of the odometry (REP-105)', pattern=r'\S+')
    base_frame: str = option('base_link', 'Vehicle frame whose motion the odometry reports '
                             '(REP-105); camera_x .. camera_yaw place the camera on it',
                             pattern=r'\S+')
    max_gap_s: float = option(0.5, 'A gap in the camera stream longer than this (s) restarts '
                              'odometry tracking', minimum=0.001, maximum=3600.0,
                              flag='--max-gap')
    camera_x: float = option(0.0, 'Camera position ahead of base_frame (m); the mount '
                             'turns camera motion into base_frame odometry', minimum=-100.0,
                             maximum=100.0)
    camera_y: float = option(0.0, 'Camera position left of base_frame (m)', minimum=-100.0,
                             maximum=100.0)
    camera_z: float = option(1.65, 'Camera position above base_frame (m)', minimum=-100.0,
                             maximum=100.0)
    camera_roll: float = option(0.0, "Camera roll about base_frame's x axis (rad; 0: level)",
                                minimum=-3.1416, maximum=3.1416)
    camera_pitch: float = option(0.0, "Camera pitch about base_frame's y axis (rad; positive "
                                 'looks down)', minimum=-3.1416, maximum=3.1416)
    camera_yaw: float = option(0.0, "Camera yaw about base_frame's z axis (rad; 0: looking "
                               'along x, positive: to the left)', minimum=-3.1416,
                               maximum=3.1416)

    def t_base_optical(self):
        """Return the camera mount as a 4 x 4 pose of its optical frame in base_frame."""
        return mount_pose(self.camera_x, self.camera_y, self.camera_z, self.camera_roll,
                          self.camera_pitch, self.camera_yaw)
