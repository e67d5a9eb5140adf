"""Self-supervised losses of DeFeat-Net and the seed variants, one module per loss."""

from defeat_ros.losses.bidirectional import BidirectionalConsistency, occlusion_mask
from defeat_ros.losses.camera_height import CameraHeightLoss
from defeat_ros.losses.contrastive import contrastive_terms, PixelwiseContrastiveLoss
from defeat_ros.losses.defeat_loss import DeFeatLoss, LossConfig
from defeat_ros.losses.explainability import ExplainabilityLoss
from defeat_ros.losses.feature_warp import FeatureWarpLoss
from defeat_ros.losses.photometric import PhotometricError, SSIMDistance
from defeat_ros.losses.reprojection import MinReprojection
from defeat_ros.losses.smoothness import EdgeAwareSmoothness
from defeat_ros.losses.velocity import VelocitySupervision

__all__ = ['BidirectionalConsistency', 'CameraHeightLoss', 'DeFeatLoss', 'EdgeAwareSmoothness',
           'ExplainabilityLoss', 'FeatureWarpLoss', 'LossConfig', 'MinReprojection',
           'PhotometricError', 'PixelwiseContrastiveLoss', 'SSIMDistance', 'VelocitySupervision',
           'contrastive_terms', 'occlusion_mask']
