"""The DeFeat-Net networks: DepthNet, FeatNet, PoseNet and the DeFeatNet bundle."""

from defeat_ros.nets.config import ModelConfig
from defeat_ros.nets.defeat_net import DeFeatNet, TrainOutputs
from defeat_ros.nets.depth_net import DepthNet, disparity_to_depth
from defeat_ros.nets.feat_net import FeatNet
from defeat_ros.nets.model_dir import load_model, save_model
from defeat_ros.nets.pose_net import PoseNet

__all__ = ['DeFeatNet', 'DepthNet', 'FeatNet', 'ModelConfig', 'PoseNet', 'TrainOutputs',
           'disparity_to_depth', 'load_model', 'save_model']
