"""
Depth (and features) of ordinary images and videos, written as files you can look at.

For every frame of every input (see :mod:`defeat_ros.data.media`) Perception runs at the
frame's own size, and ``out`` receives, per frame ``<name>`` (an image's file name without its
suffix; ``<video>_<frame number>`` for a video):

| file | what |
| --- | --- |
| ``<name>_depth.png`` | 16-bit depth in millimetres (0: none or beyond 65.535 m), as ROS 16UC1 |
| ``<name>_depth.npy`` | float32 H x W depth in metres (NaN where invalid) |
| ``<name>_preview.png`` | the input above its colour-mapped depth (near is bright) |
| ``<name>_features.png`` | the first three principal components of the dense features |

and, for a video, ``<video>_preview.mp4``: the preview frames as a video at the input's rate.
Which of them are written is chosen by ``formats``.
"""

from pathlib import Path

import cv2
from defeat_ros.camera.model_location import model_option
from defeat_ros.data.media import media_inputs, read_frames, video_properties
from defeat_ros.runtime.perception import Perception
from defeat_ros.visualisation import colourise_depth, colourise_features
import numpy as np
from tqdm import tqdm

FORMATS = ('png', 'npy', 'preview', 'features')
"""What predict can write per frame."""

MAX_MILLIMETRES = np.iinfo(np.uint16).max
"""Largest depth a 16-bit millimetre PNG holds (65.535 m); deeper pixels are written as 0."""


def depth_millimetres(depth):
    """Return H x W metres (NaN invalid) as uint16 millimetres, 0 where invalid or too deep."""
    millimetres = np.round(np.nan_to_num(np.asarray(depth, np.float64) * 1000.0, nan=0.0))
    return np.where((millimetres > 0) & (millimetres <= MAX_MILLIMETRES), millimetres,
                    0).astype(np.uint16)


def preview(rgb, depth):
    """Return the input H x W x 3 above its colour-mapped depth: 2H x W x 3 uint8 RGB."""
    return np.concatenate([rgb, colourise_depth(depth)], axis=0)


def write_rgb(path, rgb):
    """Write an RGB uint8 image as PNG (OpenCV writes BGR)."""
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f'cannot write {path}')


class PreviewVideo:
    """
    Preview frames as an MP4 (opened at the first frame, at its size).

    predict writes one per video input; process-bag's preview
    (:mod:`~defeat_ros.camera.bag_preview`) one per bag.
    """

    def __init__(self, path, rate):
        """Remember where to write and at what rate (frames per second; 0: 10)."""
        self.path, self.rate, self.writer = Path(path), rate or 10.0, None
        self.size = None
        """(width, height) of the video, from its first frame."""

    def add(self, frame):
        """Append one H x W x 3 RGB frame; frames of another size are resized to the first's."""
        if self.writer is None:
            self.size = frame.shape[1], frame.shape[0]
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*'mp4v'),
                                          self.rate, self.size)
            if not self.writer.isOpened():
                raise OSError(f'cannot write the video {self.path}')
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

    def close(self):
        """Finish the file."""
        if self.writer is not None:
            self.writer.release()


def predict_files(inputs, out, perception_options, formats=('png', 'preview'), video=True,
                  k_norm=None, max_frames=0, log=print, progress=True):
    """
    Run Perception on images and videos and write the files of the module docstring.

    :param inputs: images, folders, glob patterns and videos (checked before the model loads).
    :param out: the output folder (created).
    :param perception_options: ``PerceptionOptions`` (model, backend, device, precision, scale).
    :param formats: some of :data:`FORMATS`.
    :param video: write ``<video>_preview.mp4`` for each video input.
    :param k_norm: 3 x 3 normalised intrinsics, for the 'camera_height' scale mode; None: none.
    :param max_frames: frames read from each video (0: all).
    :param log: called with each line for people.
    :param progress: show a tqdm progress bar of the frames on stderr.
    :return: number of frames predicted.
    :raises FileNotFoundError, ValueError: naming the input at fault.
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f'formats must be some of {", ".join(FORMATS)}, got {unknown}')
    options = perception_options
    if options.scale_mode == 'speed':
        raise ValueError('scale_mode speed needs the vehicle speed, which images and videos do '
                         'not have: use it in the node or process-bag')
    media = media_inputs(inputs)
    model = model_option(options.model)
    videos = sum(item.is_video for item in media)
    log(f'predict: {len(media) - videos} images and {videos} videos with {model} into {out}')
    perception = Perception(model, options.backend, options.scale_mode,
                            options.camera_height, options.pose_refinement,
                            device=options.device,
                            precision=options.precision)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stated = {item: video_properties(item.path) for item in media if item.is_video}
    total = sum(min(count, max_frames or count) for _, count in stated.values())
    frames = 0
    with tqdm(desc='predict', unit='frame', total=total + len(media) - len(stated),
              disable=not progress) as bar:
        for item in media:
            movie = PreviewVideo(out / f'{item.path.stem}_preview.mp4', stated[item][0]) \
                if item.is_video and video else None
            try:
                for index, rgb in read_frames(item, max_frames):
                    name = f'{item.path.stem}_{index:06d}' if item.is_video else item.path.stem
                    result = perception(rgb, 'rgb8', features='features' in formats,
                                        pose=False, output_size=rgb.shape[:2], k_norm=k_norm)
                    write_outputs(out, name, rgb, result, formats, movie)
                    frames += 1
                    bar.update()
            finally:
                if movie is not None:
                    movie.close()
    log(f'predict: {frames} frames on {perception.backend.name}; depth in {out}')
    return frames


def write_outputs(out, name, rgb, result, formats, movie):
    """Write one frame's chosen files (and its preview into the video's, when there is one)."""
    depth = result.depth
    if 'png' in formats:
        if not cv2.imwrite(str(out / f'{name}_depth.png'), depth_millimetres(depth)):
            raise OSError(f'cannot write {out / name}_depth.png')
    if 'npy' in formats:
        np.save(out / f'{name}_depth.npy', np.where(depth > 0, depth, np.nan).astype(np.float32))
    if 'preview' in formats or movie is not None:
        sheet = preview(rgb, depth)
        if 'preview' in formats:
            write_rgb(out / f'{name}_preview.png', sheet)
        if movie is not None:
            movie.add(sheet)
    if 'features' in formats:
        write_rgb(out / f'{name}_features.png', colourise_features(result.features))
