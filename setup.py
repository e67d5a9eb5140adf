"""Build and install defeat_ros with setuptools (ament_python for colcon; pip works too)."""

import glob
import os

from setuptools import find_packages
from setuptools import setup

PACKAGE_NAME = 'defeat_ros'
HERE = os.path.dirname(os.path.abspath(__file__))


def share_files(folder):
    """
    List the data_files entries installing every file under folder to share/<package>/.

    Subfolders are kept (config/training/x.yaml -> share/defeat_ros/config/training/x.yaml).
    Paths are relative to this file, as setuptools wants them; caches are left out.
    """
    by_target = {}
    pattern = os.path.join(folder, '**', '*')
    for path in sorted(glob.glob(pattern, root_dir=HERE, recursive=True)):
        if '__pycache__' in path.split(os.sep) or path.endswith('.pyc'):
            continue
        if os.path.isfile(os.path.join(HERE, path)):
            target = os.path.join('share', PACKAGE_NAME, os.path.dirname(path))
            by_target.setdefault(target, []).append(path)
    return sorted(by_target.items())


setup(
    name=PACKAGE_NAME,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE_NAME]),
        ('share/' + PACKAGE_NAME, ['package.xml']),
        *share_files('launch'),
        *share_files('config'),
        *share_files('models'),
    ],
    # Runtime dependencies come from requirements.txt (pip) or package.xml (rosdep). Listing
    # them here would make setuptools-generated launchers check pip distribution names that
    # apt-installed ROS dependencies (python3-opencv, ...) do not provide.
    install_requires=['setuptools'],
    zip_safe=False,
    maintainer='defeat_ros maintainers',
    maintainer_email='maintainers@example.com',
    description='DeFeat-Net monocular depth, dense features and pose for ROS 2.',
    license='Apache-2.0',
    # `tests_require` is gone from setuptools >= 72 (an 'Unknown distribution option' warning
    # on every colcon build); the test extra is how `ros2 pkg create` declares pytest today.
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [
            'defeat-ros = defeat_ros.apps.cli:main',
            'defeat_node = defeat_ros.ros.depth_node:main',
            'bag_player = defeat_ros.ros.bag_player:main',
        ],
    },
)
