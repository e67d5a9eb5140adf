"""
Which frames of a recording to fine-tune on: skip a standing camera, balance night and day.

Both criteria look at thumbnails: frames shrunk with area interpolation to
:data:`THUMBNAIL_WIDTH` pixels wide, RGB in [0, 1]. Shrinking averages sensor noise away
while the image motion of a moving camera survives.

Standing camera. When the camera does not move, a source frame equals the target up to noise,
so the photometric loss is already minimal for any depth: the sample teaches nothing (and
auto-masking masks it out). A sample counts as moving when, for every source offset, the mean
absolute difference between the target's and the source's thumbnails is at least
``threshold`` (default :data:`STATIC_THRESHOLD`). On the synthetic street, noise alone gives
about 0.004 by day and 0.006 at night (high gain); driving at 5 m/s and 10 fps gives more
than 0.02, crawling at 1 m/s about 0.007 (day) to 0.012 (night).

Night and day. A frame is night when the mean luma (0.299 R + 0.587 G + 0.114 B) of its
thumbnail is below :data:`NIGHT_BRIGHTNESS` (synthetic street: 0.07 to 0.14 at night, about
0.25 by day). :func:`balance_weights` gives night and day samples equal total weight.
"""

from defeat_ros.data.image_ops import resize_rgb
import numpy as np

THUMBNAIL_WIDTH = 80
"""Width (pixels) of the thumbnails both criteria compare."""

STATIC_THRESHOLD = 0.01
"""Default smallest mean absolute thumbnail difference of a moving camera."""

NIGHT_BRIGHTNESS = 0.18
"""Mean luma below which a frame counts as night."""

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def thumbnail(image):
    """
    Shrink an RGB uint8 H x W x 3 frame to :data:`THUMBNAIL_WIDTH` pixels wide.

    :return: float32 h x w x 3 in [0, 1] (frames narrower than the thumbnail keep their size).
    """
    height, width = image.shape[:2]
    if width > THUMBNAIL_WIDTH:
        height = max(1, round(height * THUMBNAIL_WIDTH / width))
        image = resize_rgb(image, height, THUMBNAIL_WIDTH)
    return image.astype(np.float32) / 255.0


def motion(source, targets, offsets):
    """
    Return how much the camera moves around each target.

    That is the smallest mean absolute thumbnail difference between the target and a source.

    :param source: a :class:`~defeat_ros.data.sequence_dataset.FrameSource`.
    :param targets: N target frame indices whose sources (``target + offset``) exist.
    :param offsets: the S source offsets.
    :return: N float64.
    """
    cache = {}

    def small(index):
        if index not in cache:
            cache[index] = thumbnail(source.image(index))
        return cache[index]

    return np.array([min(float(np.abs(small(t) - small(t + o)).mean()) for o in offsets)
                     for t in (int(t) for t in targets)], dtype=np.float64)


def brightness(source, frames):
    """
    Return the mean luma of each frame's thumbnail.

    :param source: a :class:`~defeat_ros.data.sequence_dataset.FrameSource`.
    :param frames: N frame indices.
    :return: N float64 in [0, 1].
    """
    return np.array([float((thumbnail(source.image(int(f))) @ LUMA).mean()) for f in frames],
                    dtype=np.float64)


def balance_weights(night):
    """
    Return sampling weights under which night and day samples are drawn equally often.

    :param night: N bool, whether each sample is a night frame.
    :return: N float64 summing to 1; uniform when only one kind is present.
    """
    night = np.asarray(night, dtype=bool)
    counts = np.array([np.count_nonzero(~night), np.count_nonzero(night)])
    kinds = np.count_nonzero(counts)
    return 1.0 / (kinds * counts[night.astype(np.int64)])


def keep_moving(candidates, distance, threshold):
    """
    Keep the first candidate frame, then each frame at least ``threshold`` from the last kept.

    :param candidates: F bool, the frames that may be kept.
    :param distance: function of two frame indices (last kept, candidate) to a float.
    :param threshold: the smallest distance of a kept frame.
    :return: F bool, the kept frames.
    """
    keep = np.zeros(len(candidates), dtype=bool)
    last = None
    for index in np.flatnonzero(candidates):
        if last is None or distance(last, index) >= threshold:
            keep[index] = True
            last = index
    return keep
