"""ResNet encoder returning the five feature maps a skip decoder needs."""

from pathlib import Path
import re

import torch
from torch import nn


class BasicBlock(nn.Module):
    """
    ResNet-18/34 residual block, with torchvision's module names (its weights load as they are).

    Written here rather than imported: importing ``torchvision.models`` imports all of
    torchvision, and with it ``torch._dynamo``, which took 2.7 s, more than half of a node's
    start-up on a 2-core CPU.
    """

    expansion = 1

    def __init__(self, in_channels, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        """B x C x H x W -> B x planes x H/stride x W/stride."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """ResNet-50 bottleneck block (stride on the 3x3 convolution), torchvision's names."""

    expansion = 4

    def __init__(self, in_channels, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        """B x C x H x W -> B x 4 planes x H/stride x W/stride."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


# Block type and blocks per stage of the torchvision ResNets.
RESNETS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_state_dict_file(path):
    """Read a state dict from ``.safetensors`` or a tensors-only ``.pth`` (never unpickles)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'pretrained encoder weights not found: {path}')
    if path.suffix == '.safetensors':
        from safetensors.torch import load_file
        return load_file(str(path))
    return torch.load(path, map_location='cpu', weights_only=True)


class ResnetEncoder(nn.Module):
    """
    ResNet trunk (torchvision blocks) over ``num_images`` stacked RGB frames.

    Input: B x 3N x H x W in [0, 1] (H, W multiples of 32). The ImageNet normalisation is applied
    inside. Output: five maps at strides 2, 4, 8, 16, 32 with ``self.channels`` channels.
    ``width`` is the stem's channel count: 64 is the standard ResNet (ImageNet weights load),
    32 or 16 give a network 4 or 16 times smaller for CPUs and small default models.
    ``weights_path`` names a torchvision ResNet state dict (:meth:`load_imagenet`) of this depth
    and width, such as the file ``defeat-ros pretrain-encoder`` writes for any width.
    """

    def __init__(self, num_layers=18, num_images=1, weights_path=None, width=64):
        super().__init__()
        if num_layers not in RESNETS:
            raise ValueError(f'ResNet depth must be one of {sorted(RESNETS)}, got {num_layers}')
        block, blocks = RESNETS[num_layers]
        self.stem = nn.Sequential(
            nn.Conv2d(3 * num_images, width, kernel_size=7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layers = nn.ModuleList()
        in_channels = width
        for stage, count in enumerate(blocks):
            planes = width * 2 ** stage
            stride = 1 if stage == 0 else 2
            self.layers.append(make_stage(block, in_channels, planes, count, stride))
            in_channels = planes * block.expansion
        self.channels = [width] + [width * 2 ** s * block.expansion for s in range(4)]
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
        if weights_path:
            self.load_imagenet(weights_path, num_layers, num_images, width)
        mean = torch.tensor(IMAGENET_MEAN * num_images).view(1, -1, 1, 1)
        std = torch.tensor(IMAGENET_STD * num_images).view(1, -1, 1, 1)
        self.register_buffer('mean', mean, persistent=False)
        self.register_buffer('std', std, persistent=False)

    def load_imagenet(self, weights_path, num_layers, num_images, width=64):
        """
        Copy a torchvision ResNet state dict into the trunk; stacked frames share conv1.

        Any width loads whose tensors have this encoder's shapes (ImageNet weights: 64).

        :raises ValueError: naming the file's depth, or the first tensor whose shape differs
            (with the width the file holds when its stem is another width).
        """
        renames = [(r'^conv1\.', 'stem.0.'), (r'^bn1\.', 'stem.1.'),
                   (r'^layer(\d)\.', lambda m: f'layers.{int(m.group(1)) - 1}.')]
        state, names = {}, {}
        for name, value in load_state_dict_file(weights_path).items():
            if name.startswith('fc.'):
                continue
            key = name
            for pattern, replacement in renames:
                key = re.sub(pattern, replacement, key)
            state[key], names[key] = value, name
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(f'{weights_path} is not a ResNet{num_layers} checkpoint '
                             f'(missing {missing[:3]}, unexpected {unexpected[:3]})')

        def file_shape(key):  # the file's conv1 is for one RGB frame
            shape = tuple(own[key].shape)
            if key == 'stem.0.weight':
                return (shape[0], shape[1] // num_images) + shape[2:]
            return shape
        wrong = [k for k in own if tuple(state[k].shape) != file_shape(k)]
        if wrong:
            key = wrong[0]
            message = (f'{weights_path}: tensor {names[key]} has shape '
                       f'{tuple(state[key].shape)}, the ResNet{num_layers} encoder of width '
                       f'{width} needs {file_shape(key)}')
            file_width = state['stem.0.weight'].shape[0]
            if file_width != width:
                message += (f'; the file holds a width-{file_width} encoder: need encoder '
                            f'width {file_width} (model.encoder_width), got {width}')
            raise ValueError(message)
        if num_images > 1:
            # Spread the RGB filters over the stacked frames: responses keep their scale.
            rgb = state['stem.0.weight']
            state['stem.0.weight'] = rgb.repeat(1, num_images, 1, 1) / num_images
        self.load_state_dict(state)

    def forward(self, images):
        """Images B x 3N x H x W -> list of 5 feature maps, strides 2 to 32."""
        x = self.stem((images - self.mean) / self.std)
        features = [x]
        x = self.pool(x)
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        return features


def make_stage(block, in_channels, planes, count, stride):
    """One ResNet stage: ``count`` blocks, the first one striding and widening."""
    downsample = None
    if stride != 1 or in_channels != planes * block.expansion:
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, planes * block.expansion, 1, stride=stride, bias=False),
            nn.BatchNorm2d(planes * block.expansion))
    blocks = [block(in_channels, planes, stride, downsample)]
    blocks += [block(planes * block.expansion, planes) for _ in range(count - 1)]
    return nn.Sequential(*blocks)
