"""ResNet encoder returning the five feature maps a skip decoder needs."""

from pathlib import Path

import torch
from torch import nn
import torchvision

RESNETS = {
    18: torchvision.models.resnet18,
    34: torchvision.models.resnet34,
    50: torchvision.models.resnet50,
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
    torchvision ResNet trunk over ``num_images`` stacked RGB frames.

    Input: B x 3N x H x W in [0, 1] (H, W multiples of 32). The ImageNet normalisation is applied
    inside. Output: five maps at strides 2, 4, 8, 16, 32 with ``self.channels`` channels.
    """

    def __init__(self, num_layers=18, num_images=1, weights_path=None):
        super().__init__()
        if num_layers not in RESNETS:
            raise ValueError(f'ResNet depth must be one of {sorted(RESNETS)}, got {num_layers}')
        resnet = RESNETS[num_layers](weights=None)
        if weights_path:
            state = load_state_dict_file(weights_path)
            state = {k: v for k, v in state.items() if not k.startswith('fc.')}
            missing, unexpected = resnet.load_state_dict(state, strict=False)
            trunk_missing = [k for k in missing if not k.startswith('fc.')]
            if trunk_missing or unexpected:
                raise ValueError(f'{weights_path} is not a ResNet{num_layers} checkpoint '
                                 f'(missing {trunk_missing[:3]}, unexpected {unexpected[:3]})')
        if num_images > 1:
            # Spread the RGB filters over the stacked frames: responses keep their scale.
            conv = nn.Conv2d(3 * num_images, 64, kernel_size=7, stride=2, padding=3, bias=False)
            with torch.no_grad():
                conv.weight.copy_(resnet.conv1.weight.repeat(1, num_images, 1, 1) / num_images)
            resnet.conv1 = conv
        self.stem = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu)
        self.pool = resnet.maxpool
        self.layers = nn.ModuleList([resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4])
        expansion = 4 if num_layers == 50 else 1
        self.channels = [64, 64 * expansion, 128 * expansion, 256 * expansion, 512 * expansion]
        mean = torch.tensor(IMAGENET_MEAN * num_images).view(1, -1, 1, 1)
        std = torch.tensor(IMAGENET_STD * num_images).view(1, -1, 1, 1)
        self.register_buffer('mean', mean, persistent=False)
        self.register_buffer('std', std, persistent=False)

    def forward(self, images):
        """Images B x 3N x H x W -> list of 5 feature maps, strides 2 to 32."""
        x = self.stem((images - self.mean) / self.std)
        features = [x]
        x = self.pool(x)
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        return features
