"""
process-bag's preview (``--preview``): a contact sheet and a short video beside the result bag.

For OUT (say ``results/day``) two files are written next to the bag directory, not inside it
(a rosbag2 directory holds its storage files and ``metadata.yaml``, and the bag is written
elsewhere and renamed into place: :mod:`defeat_ros.bags.writer`):

- ``<OUT>_preview.png``: a contact sheet, a row for each of :data:`SHEET_FRAMES` frames spread
  over the bag;
- ``<OUT>_preview.mp4``: a row per frame for at most :data:`VIDEO_FRAMES` frames spread over
  the bag (every frame of a shorter one), at :data:`VIDEO_RATE` frames/s.

A row (:func:`preview_row`) is the input, its colour-mapped depth (near is bright) with a colour
bar in metres, and the first three principal components of the features, side by side; the
tiles are those of ``defeat-ros evaluate``'s and the demo's figures
(:mod:`defeat_ros.evaluation.report`).

The previewed frames ask the per-frame step for ``features/visual`` as well: the feature network
runs for them even when the bag gets no features, but only the outputs asked for are written,
so the bag is the same with and without the preview. A frame that is skipped (undecodable)
gives its place to the next one processed. Both files are written under hidden
``.<name>.*.partial`` names and renamed when the bag is complete (also when a damaged bag ends
early); after an error neither is left behind.
"""

from contextlib import suppress
from pathlib import Path
import uuid

from defeat_ros.camera.predict import PreviewVideo
from defeat_ros.evaluation.report import (depth_bar, display_width, figure_tile, GAP,
                                          join_tiles, spread_indices, write_png)
from defeat_ros.messages.decode import message_to_rgb
from defeat_ros.visualisation import colourise_depth, depth_range

SHEET_FRAMES = 4
"""Frames on the contact sheet."""

VIDEO_FRAMES = 100
"""Most frames in the video."""

VIDEO_RATE = 10.0
"""Frames per second of the video (10 s for a bag of VIDEO_FRAMES or more)."""

TILE_WIDTH = 480
"""Widest tile: the three images of a row are shown at most this wide (smaller ones enlarged)."""

NEEDED = frozenset({'features_visual'})
"""Outputs of the per-frame step (keys of ``OUTPUT_TOPICS``) a previewed frame needs."""


def preview_paths(output):
    """Return the contact sheet's and the video's paths for the result bag ``output``."""
    output = Path(output)
    return (output.with_name(f'{output.name}_preview.png'),
            output.with_name(f'{output.name}_preview.mp4'))


def preview_row(rgb, depth, features_rgb, title):
    """
    One frame of the preview: input | depth with its colour bar | features (PCA).

    :param rgb: H x W x 3 uint8 RGB input.
    :param depth: depth in metres (NaN or 0 invalid) of the input's view, any size; shown
        over the 5th-95th percentile of its inverse (the range of ``depth/visual``), stated by
        its colour bar.
    :param features_rgb: colour-mapped features (``features/visual``) of the input's view, any
        size (by default the network's).
    :param title: label of the input tile.
    :return: uint8 RGB: three :func:`~defeat_ros.evaluation.report.figure_tile` of the input's
        shown size.
    """
    width = display_width(rgb.shape[1], TILE_WIDTH)
    height = max(1, round(rgb.shape[0] * width / rgb.shape[1]))
    shown = depth_range(depth)
    bar = depth_bar(width, *shown) if shown else None
    tiles = [figure_tile(rgb, title, width, height=height),
             figure_tile(colourise_depth(depth, *(shown or (None, None))), 'depth', width, bar,
                         height),
             figure_tile(features_rgb, 'features (PCA)', width, height=height)]
    return join_tiles(tiles, 1, GAP)


def _hidden(path):
    return path.with_name(f'.{path.stem}.{uuid.uuid4().hex[:8]}.partial{path.suffix}')


class BagPreview:
    """The preview of one process-bag run: frames chosen, rows kept, the video being written."""

    def __init__(self, output, total):
        """
        Choose the frames of a bag of ``total`` images; nothing is written yet.

        :raises FileExistsError: when a preview file of ``output`` exists.
        """
        self.paths = preview_paths(output)
        for path in self.paths:
            if path.exists():
                raise FileExistsError(f'{path} exists already, not overwriting')
        self.total = total
        self.sheet_frames = spread_indices(total, SHEET_FRAMES)
        self.video_frames = spread_indices(total, VIDEO_FRAMES)
        self.rows = []
        self.temporary = [_hidden(path) for path in self.paths]
        self.video = PreviewVideo(self.temporary[1], VIDEO_RATE)

    def wants(self, index):
        """Whether the ``index``-th image of the bag is previewed (then it needs NEEDED)."""
        return any(chosen and index >= chosen[0]
                   for chosen in (self.sheet_frames, self.video_frames))

    def add(self, index, message, frame):
        """Add the ``index``-th image message and its FrameOutputs (built with NEEDED)."""
        row = preview_row(message_to_rgb(message), frame.result.depth,
                          message_to_rgb(frame.messages['features_visual']),
                          f'input, frame {index + 1} of {self.total}')
        if _take(self.video_frames, index):
            self.video.add(row)
        if _take(self.sheet_frames, index):
            self.rows.append(row)

    def finish(self):
        """Write the sheet, finish the video and give both their names; return the paths."""
        self.video.close()
        written = []
        if self.rows:
            write_png(self.temporary[0], join_tiles(self.rows, 0, GAP))
        for temporary, path in zip(self.temporary, self.paths):
            if temporary.exists():
                temporary.rename(path)
                written.append(path)
        return written

    def abort(self):
        """Stop and delete what was written."""
        with suppress(Exception):  # a failing close must not hide the failure that led here
            self.video.close()
        for temporary in self.temporary:
            temporary.unlink(missing_ok=True)


def _take(chosen, index):
    """Drop the chosen indices up to ``index``; return whether there were any."""
    taken = False
    while chosen and chosen[0] <= index:
        chosen.pop(0)
        taken = True
    return taken
