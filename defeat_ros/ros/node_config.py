"""
The DeFeat-Net node's parameters as one typed config, the source of everything generated.

:mod:`~defeat_ros.ros.parameters` declares them with descriptors built from it;
``config/depth.yaml`` and the README's parameter table are generated from it by
:mod:`defeat_ros.apps.parameter_files` (a test checks they are up to date).
"""

from dataclasses import dataclass

from defeat_ros.camera.options import OutputOptions, PerceptionOptions
from defeat_ros.messages.decode import SPEED_TYPES
from defeat_ros.messages.typestore import ODOMETRY
from defeat_ros.ros.qos import QOS_NAMES
from defeat_ros.typed_config import option


@dataclass
class NodeConfig(OutputOptions, PerceptionOptions):
    """Every parameter of ``defeat_node``: the shared options, then the node's own."""

    autostart: bool = option(True, 'Configure and activate on start; false: wait for a '
                             'lifecycle manager (configure loads the model, activate '
                             'subscribes)', read_only=True)
    publish_features: bool = option(True, 'Publish features/image (32FC<n>) and '
                                    'features/camera_info while someone subscribes')
    publish_visuals: bool = option(True, 'Publish depth/visual and features/visual (rgb8) '
                                   'while someone subscribes')
    publish_points: bool = option(True, 'Publish the coloured point cloud while someone '
                                  'subscribes')
    publish_tf: bool = option(False, 'Broadcast TF odom_frame -> base_frame (needs tf2_ros)')
    image_transport: str = option('raw', "Image subscription: 'raw' (image) or 'compressed' "
                                  '(image/compressed)', choices=('raw', 'compressed'),
                                  read_only=True)
    input_qos: str = option('BEST_AVAILABLE', 'QoS profile of the subscriptions; '
                            'BEST_AVAILABLE: reliable for reliable cameras (large frames are '
                            'retransmitted, not lost), best effort for best-effort ones',
                            choices=QOS_NAMES, read_only=True)
    output_qos: str = option('DEFAULT', 'QoS profile of the publishers', choices=QOS_NAMES,
                             read_only=True)
    fx: float = option(0.58, 'Fallback focal length x / image width, used until camera_info '
                       'arrives', minimum=0.01, maximum=100.0)
    fy: float = option(1.92, 'Fallback focal length y / image height', minimum=0.01,
                       maximum=100.0)
    cx: float = option(0.5, 'Fallback principal point x / image width', minimum=0.0,
                       maximum=1.0)
    cy: float = option(0.5, 'Fallback principal point y / image height', minimum=0.0,
                       maximum=1.0)
    online_finetune: bool = option(False, 'Fine-tune the networks self-supervised on the '
                                   'incoming frames in the background; validated '
                                   'improvements are swapped in', read_only=True)
    online_checkpoint_dir: str = option('defeat_online', 'Where online fine-tuning saves the '
                                        'models it swaps in (relative to the working '
                                        'directory)', pattern=r'\S+', read_only=True)
    online_step_rate: float = option(1.0, 'Most online training steps per second',
                                     minimum=0.01, maximum=100.0, read_only=True)
    online_buffer_size: int = option(60, 'Frame triplets kept for online training', minimum=4,
                                     maximum=10000, read_only=True)
    online_learning_rate: float = option(2e-5, 'Adam learning rate of online fine-tuning',
                                         minimum=1e-8, maximum=0.01, read_only=True)
    online_replay: float = option(0.5, "Share of online training draws from the model's own "
                                  'training data (with its recorded objective), where it can '
                                  'be rebuilt here; keeps what the model learnt. 0: the '
                                  "camera's frames alone", minimum=0.0, maximum=0.95,
                                  read_only=True)
    online_validate_every: int = option(20, 'Online training steps between validations (and '
                                        'swaps)', minimum=1, maximum=100000, read_only=True)
    speed_topic: str = option('', "Topic of the vehicle's speed (wheel odometry, CAN, INS): "
                              'scale_mode speed takes the odometry step lengths from it, '
                              'online fine-tuning learns metric depth and odometry from it; '
                              'empty: none', read_only=True)
    speed_type: str = option(ODOMETRY, 'Message type of speed_topic (the norm of its twist '
                             'is the speed)', choices=SPEED_TYPES, read_only=True)
