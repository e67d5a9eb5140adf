"""Calibration frames for int8: from a folder of camera images, or the synthetic street."""

import hashlib

from defeat_ros.data.image_ops import read_rgb, resize_rgb, rgb_tensor
from defeat_ros.data.media import image_files
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.nets.model_dir import read_config
import torch


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
    files = image_files(image_folder)
    if not files:
        raise FileNotFoundError(f'no images in {image_folder}')
    step = max(len(files) // count, 1)
    frames = []
    for path in files[::step][:count]:
        try:
            rgb = resize_rgb(read_rgb(path), config.height, config.width)
        except OSError as error:
            raise ValueError(f'{path} is not a readable image ({error})') from None
        frames.append(rgb_tensor(rgb).unsqueeze(0))
    return frames


def frames_digest(frames):
    """SHA-256 (16 hex digits) of calibration frames, 1 x 3 x H x W tensors, in their order."""
    digest = hashlib.sha256()
    for frame in frames:
        array = frame.detach().float().cpu().contiguous().numpy()
        digest.update(repr(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]
