"""
Camera frames from ordinary files: images, folders of images, glob patterns and videos.

:func:`media_inputs` turns what a user typed into a sorted list of :class:`MediaInput` (each
file checked to exist and to be an image or a video by its suffix) before any heavy work;
:func:`read_frames` yields the RGB frames of one input: an image is decoded with
:func:`~defeat_ros.data.image_ops.read_rgb` (as bags' compressed images are), a video with
OpenCV's VideoCapture.
"""

from dataclasses import dataclass
import glob
from pathlib import Path
import re

import cv2
from defeat_ros.data.image_ops import read_rgb

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.ppm', '.pgm', '.webp')
"""File suffixes read as images (case-insensitive)."""

VIDEO_SUFFIXES = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg')
"""File suffixes read as videos (case-insensitive)."""


@dataclass(frozen=True)
class MediaInput:
    """One image or video file."""

    path: Path
    is_video: bool


def natural_key(name):
    """Sort key that orders digit runs by value: ``frame2`` before ``frame10``."""
    return [(0, int(part), '') if part.isdigit() else (1, 0, part)
            for part in re.split(r'(\d+)', name)]


def image_files(folder):
    """Return the image files directly in ``folder``, in natural order of their names."""
    files = [path for path in Path(folder).iterdir()
             if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda path: natural_key(path.name))


def media_file(path):
    """
    Return the MediaInput of one file.

    :raises ValueError: naming the file when its suffix is neither an image's nor a video's.
    """
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
        raise ValueError(f'{path}: not an image ({", ".join(IMAGE_SUFFIXES)}) or a video '
                         f'({", ".join(VIDEO_SUFFIXES)})')
    return MediaInput(path, suffix in VIDEO_SUFFIXES)


def media_inputs(inputs):
    """
    Expand images, folders (their images, not recursively), glob patterns and videos.

    :param inputs: what the user gave, in order; each folder and pattern expands sorted.
    :return: list of MediaInput, without repeats.
    :raises FileNotFoundError: naming an input that does not exist or matches nothing.
    :raises ValueError: naming a file that is neither an image nor a video.
    """
    found = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            files = image_files(path)
            if not files:
                raise FileNotFoundError(f'{path}: the folder holds no images '
                                        f'({", ".join(IMAGE_SUFFIXES)})')
            found += [MediaInput(file, False) for file in files]
        elif path.is_file():
            found.append(media_file(path))
        elif glob.has_magic(str(given)):
            files = sorted(Path(match) for match in glob.glob(str(given)))
            files = [file for file in files if file.is_file()]
            if not files:
                raise FileNotFoundError(f'{given}: the pattern matches no file')
            found += [media_file(file) for file in files]
        else:
            raise FileNotFoundError(f'{given}: no such file or folder')
    return list(dict.fromkeys(found))


def video_properties(path):
    """Return (frames per second, frame count) of a video as its file states them (0: unknown)."""
    capture = cv2.VideoCapture(str(path))
    try:
        return (float(capture.get(cv2.CAP_PROP_FPS) or 0.0),
                max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0), 0))
    finally:
        capture.release()


def read_frames(media, max_frames=0):
    """
    Yield (index, H x W x 3 uint8 RGB) of each frame of an image (one) or a video.

    :param max_frames: stop after this many frames of a video (0: all).
    :raises ValueError: naming the file when it cannot be decoded or opened as a video.
    """
    if not media.is_video:
        try:
            yield 0, read_rgb(media.path)
        except OSError as error:
            raise ValueError(f'{media.path}: {error}') from None
        return
    capture = cv2.VideoCapture(str(media.path))
    try:
        if not capture.isOpened():
            raise ValueError(f'{media.path}: cannot be opened as a video')
        index = 0
        while not max_frames or index < max_frames:
            ok, bgr = capture.read()
            if not ok:
                break
            yield index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            index += 1
        if index == 0:
            raise ValueError(f'{media.path}: no frame could be decoded from the video')
    finally:
        capture.release()
