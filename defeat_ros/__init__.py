"""defeat_ros: self-supervised monocular depth, dense features and visual odometry (DeFeat-Net)."""

__version__ = '0.1.0'
