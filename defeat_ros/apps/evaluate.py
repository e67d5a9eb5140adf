"""
``defeat-ros evaluate``: score a model directory: depth, pose and features, day versus night.

By default the model is run on synthetic street drives rendered by day and by night (same
street, same trajectory) with exact depth, poses and moving-object masks. Real datasets, any
combination: ``--kitti ROOT --split FILE`` evaluates depth on KITTI raw frames (split lines
``folder frame side``) against ground truth projected from their Velodyne scans;
``--kitti-odometry ROOT --sequences 09,10`` evaluates visual odometry against the sequences'
ground-truth poses. Writes results.json, results.md (with the published numbers of each
benchmark beside the model's) and PNG figures into --out.

Example::

    defeat-ros evaluate MODEL_DIR --out eval/synthetic
    defeat-ros evaluate MODEL_DIR --out eval/eigen --kitti KITTI_RAW --split test.txt
    defeat-ros evaluate MODEL_DIR --out eval/odometry --kitti-odometry KITTI_ODOMETRY
"""

from dataclasses import dataclass

from defeat_ros.apps.arguments import add_options, config_from_args
from defeat_ros.evaluation.pose import evo_available
from defeat_ros.evaluation.protocol import EVALUATION_SEED, EvaluationConfig
from defeat_ros.evaluation.report import markdown_report
from defeat_ros.evaluation.robotcar_lidar import LASERS, POSE_SOURCES
from defeat_ros.evaluation.run import evaluate_model
from defeat_ros.typed_config import comma_list, option


@dataclass
class EvaluateConfig(EvaluationConfig):
    """What ``defeat-ros evaluate`` scores, on which data: the protocol, then the data."""

    model: str = option('', 'Model directory (config.json + model.safetensors)', flag='MODEL')
    out: str = option('', 'Folder for results.json, results.md and PNG figures', required=True)
    kitti: str = option('', 'KITTI raw root (evaluates depth); with --split')
    split: str = option('', 'KITTI split file (with --kitti)')
    kitti_odometry: str = option('', 'KITTI odometry root (sequences/NN, poses/NN.txt): '
                                 'evaluates visual odometry on --sequences')
    sequences: list = option(['09', '10'], 'KITTI odometry sequences, comma-separated '
                             '(with --kitti-odometry; poses exist for 00-10)')
    robotcar_day: str = option('', 'RobotCar image folder of a day run (<run>/stereo/centre): '
                               'evaluates depth against its laser scans')
    robotcar_night: str = option('', 'RobotCar image folder of a night run, as --robotcar-day')
    robotcar_models: str = option('robotcar-dataset-sdk/models', "The RobotCar SDK's camera "
                                  'models folder')
    robotcar_extrinsics: str = option('', "The SDK's extrinsics folder; empty: extrinsics "
                                      'beside the models folder')
    robotcar_crop: list = option([0, 0, 0, 0], 'Pixels removed from RobotCar frames: top, '
                                 "bottom, left, right (e.g. the car's bonnet at the bottom)")
    robotcar_frames: int = option(0, 'RobotCar frames per run, spread evenly; 0: all',
                                  minimum=0, maximum=1000000)
    robotcar_laser: str = option('lms_front', 'Laser whose scans give RobotCar ground truth',
                                 choices=tuple(LASERS))
    robotcar_poses: str = option('vo', 'Poses that place the RobotCar scans: vo or ins',
                                 choices=POSE_SOURCES)
    conditions: list = option(['day', 'night'], 'Synthetic lighting conditions, '
                              'comma-separated: day, night')
    frames: int = option(40, 'Synthetic frames per drive', minimum=2, maximum=100000)
    street_seed: int = option(EVALUATION_SEED, 'Synthetic street and drive',
                              flag='--seed')
    height: int = option(0, "Synthetic image height; 0: the model's", minimum=0, maximum=4320)
    width: int = option(0, "Synthetic image width; 0: the model's", minimum=0, maximum=7680)
    device: str = option('', 'Torch device; empty: cuda when available')

    def __post_init__(self):
        """Read the conditions; check the options and that --kitti and --split go together."""
        self.conditions = comma_list(self.conditions, name='conditions')
        unknown = sorted(set(self.conditions) - {'day', 'night'})
        if unknown or not self.conditions:
            raise ValueError(f'conditions are day and/or night, got {self.conditions}')
        if bool(self.kitti) != bool(self.split):
            raise ValueError('--kitti and --split go together')
        self.robotcar_crop = comma_list(self.robotcar_crop, int, 'robotcar_crop')
        self.sequences = comma_list(self.sequences, name='sequences')
        if not self.sequences or not all(str(s).isdigit() for s in self.sequences):
            raise ValueError(f'sequences are KITTI odometry sequence numbers such as 09,10, '
                             f'got {self.sequences}')
        if self.trajectory_backend == 'evo' and not evo_available():
            raise ValueError('--trajectory-backend evo needs the evo package (pip install '
                             'evo==1.38.1); the builtin backend computes the same ATE and RPE')
        self.check_options()


def add_arguments(parser):
    """Add the options of ``defeat-ros evaluate`` (those of EvaluateConfig)."""
    add_options(parser, EvaluateConfig)


def robotcar_runs(config):
    """Return {'day': folder, 'night': folder} of the RobotCar runs asked for (maybe empty)."""
    return {condition: folder for condition, folder in
            (('day', config.robotcar_day), ('night', config.robotcar_night)) if folder}


def robotcar_options(config):
    """Return the keyword arguments of ``evaluate_robotcar`` that the options set."""
    return {'camera': {'models_dir': config.robotcar_models, 'crop': config.robotcar_crop},
            'extrinsics_dir': config.robotcar_extrinsics or None,
            'frames': config.robotcar_frames or None,
            'lidar': {'laser': config.robotcar_laser, 'poses': config.robotcar_poses}}


def run(args):
    """Run the evaluation and print the markdown tables."""
    config = config_from_args(EvaluateConfig, args)
    results = evaluate_model(config.model, config.out, kitti_root=config.kitti or None,
                             split=config.split or None,
                             odometry_root=config.kitti_odometry or None,
                             sequences=config.sequences, robotcar_runs=robotcar_runs(config),
                             robotcar_options=robotcar_options(config),
                             conditions=tuple(config.conditions),
                             frames=config.frames, seed=config.street_seed,
                             height=config.height or None, width=config.width or None,
                             config=config, device=config.device or None)
    print(markdown_report(results))
    print(f'wrote {config.out}/results.json, results.md and '
          f'{len(results["files"]["figures"])} figures')
