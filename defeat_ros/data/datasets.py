"""
Every dataset by name, for configs: ``make_dataset('kitti', {...}, SampleConfig(...))``.

| name | class (module in ``defeat_ros.data``) | source config |
| --- | --- | --- |
| ``kitti`` | ``KittiDataset`` (``kitti``) | ``KittiConfig`` |
| ``robotcar`` | ``RobotCarDataset`` (``robotcar``) | ``RobotCarConfig`` |
| ``image_folder`` | ``ImageFolderDataset`` (``image_folder``) | ``ImageFolderConfig`` |
| ``rosbag`` | ``RosbagDataset`` (``rosbag_sequence``) | ``BagConfig`` |
| ``synthetic`` | ``SyntheticDataset`` (``synthetic``) | ``SyntheticConfig`` |

All return the samples of :mod:`defeat_ros.data.sample` and have ``set_epoch``.
"""

from defeat_ros.data.image_folder import ImageFolderDataset
from defeat_ros.data.kitti import KittiDataset
from defeat_ros.data.robotcar import RobotCarDataset
from defeat_ros.data.rosbag_sequence import RosbagDataset
from defeat_ros.data.synthetic import SyntheticDataset

DATASETS = {
    'kitti': KittiDataset,
    'robotcar': RobotCarDataset,
    'image_folder': ImageFolderDataset,
    'rosbag': RosbagDataset,
    'synthetic': SyntheticDataset,
}
"""Dataset classes by name; each has a ``Config`` attribute, its source config class."""


def make_dataset(name, source, sample=None):
    """
    Build a dataset by name.

    :param name: a key of :data:`DATASETS`.
    :param source: the dataset's source config, or a mapping of its fields.
    :param sample: a :class:`~defeat_ros.data.sample.SampleConfig`, a mapping, or None.
    :return: the dataset.
    :raises ValueError: for an unknown name, listing the known ones.
    """
    if name not in DATASETS:
        raise ValueError(f'unknown dataset {name!r}; known: {", ".join(sorted(DATASETS))}')
    return DATASETS[name](source, sample)
