"""Calibration frames for int8: from a folder of camera images, or the synthetic street."""

from pathlib import Path

import cv2
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.nets.model_dir import read_config
import torch

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg')


def calibration_frames(model_dir, count=16, image_folder=None):
    """
    Return ``count`` frames 1 x 3 x H x W in [0, 1] at the model's resolution.

    From ``image_folder`` (PNG/JPEG, evenly spaced over the sorted files) when given, else half
    day and half night synthetic street frames.
    """
    config = read_config(model_dir)
    if image_folder is None:
        world = {'width': config.width, 'height': config.height,
                 'frames': max(count // 2, 1), 'seed': 5}
        images = torch.cat([render_sequence(WorldConfig(**world)).images,
                            render_sequence(WorldConfig(**world, night=True)).images])
        return [image.unsqueeze(0) for image in images[:count]]
    files = sorted(p for p in Path(image_folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f'no PNG or JPEG images in {image_folder}')
    step = max(len(files) // count, 1)
    frames = []
    for path in files[::step][:count]:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f'{path} is not a readable image')
        rgb = cv2.cvtColor(cv2.resize(bgr, (config.width, config.height),
                                      interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        frames.append(torch.from_numpy(rgb).permute(2, 0, 1).float().div(255.0).unsqueeze(0))
    return frames
