"""
rosbag2 recordings (MCAP or SQLite 3) as training sequences, read with ``rosbags``.

Each bag is one sequence: the frames of one image topic in recording order, with intrinsics
from a CameraInfo topic. No ROS installation is needed.

Topics. ``image_topic`` may be a ``sensor_msgs/msg/Image`` (rgb8, bgr8, rgba8, bgra8, mono8,
bayer_rggb8/bggr8/gbrg8/grbg8, and their 16-bit versions, which keep the upper 8 bits) or a
``sensor_msgs/msg/CompressedImage`` (JPEG, PNG). Left empty, it is found automatically: the one
Image topic with a colour encoding (depth images such as 32FC1 do not count); failing that, the
one CompressedImage topic. ``camera_info_topic`` left empty is the one CameraInfo topic, or,
among several, the one beside the image topic (``<namespace>/camera_info``). Anything
ambiguous or missing is an error that lists the bag's topics and types. An optional
``depth_topic`` (32FC1 metres, NaN unknown; or 16UC1 millimetres) adds ground truth matched to
the images by header stamp, in the geometry of the images (undistorted with them).

Labels. ``label_topic`` (a ``sensor_msgs/msg/Image`` of one Cityscapes label-file id per pixel,
``8UC1`` or ``mono8``, the size of the images; see :mod:`defeat_ros.semantics`) gives the
samples' ``labels``, matched to the images by header stamp and undistorted with them (nearest
neighbour). Left empty, it is the one Image topic named ``.../semantic``
(:data:`~defeat_ros.data.sequence_bag.LABEL_TOPIC`, as :func:`~defeat_ros.data.sequence_bag
.write_bag` records it), if any; ``none`` turns labels off. Frames without a label message, and
bags without a label topic, get IGNORE labels.

Geometry. The first CameraInfo message is used, read as image_pipeline writes it: D, K and R
describe the raw camera, P the rectified one (also on the CameraInfo of rectified topics).
Raw topics are undistorted with D and R to the camera P (see :mod:`defeat_ros.data.rectify`);
rectified topics are used as recorded with the intrinsics of P. ``rectified`` 'auto' takes a
topic as rectified when a component of its name starts with ``image_rect`` (``image_rect``,
``image_rect_color/compressed``); True or False override that. Configured ``intrinsics``
(normalised fx, fy, cx, cy) replace CameraInfo, which is then not read, and the images are used
as recorded, without undistortion; bags without CameraInfo need them.

Time. Frames are ordered as recorded; their stamps (``header``, or ``log``: the recording time)
must increase, else a ValueError names the bag, topic and frame. Consecutive frames more than
``max_gap_s`` apart (default: 2.5 times the median frame interval) do not share a sample.

Speed. The vehicle's speed at each frame (``FrameSource.speeds``, for the velocity
supervision, see :mod:`defeat_ros.data.travel`) comes from ``speed_topic``: an Odometry,
TwistStamped or TwistWithCovarianceStamped topic, whose speed is the length of
``twist.linear``. Left empty, it is the one topic of these types with messages whose name has
no ``ground_truth`` component (a simulator's ground truth is no sensor): without one the frames
have no speed, several are an error listing them; ``none`` turns speed off. A configured topic
that is missing, of another type or without messages is a :class:`BagError` naming bag and
topic. The speed messages are timed like the frames (``stamp_source``) and interpolated
linearly at the frame stamps; frames outside their span, or between two of them more than
:data:`SPEED_MAX_GAP_S` apart, get NaN (no distance, no velocity supervision).

Memory. With ``preload`` (the default) every frame is decoded once, undistorted (raw topics)
and resized to the training resolution, and kept as uint8: H x W x 3 bytes a frame
(640 x 192: 369 kB, so about 370 MB per 1000 frames; ground-truth depth adds 4 bytes a pixel).
Data-loading workers share these arrays copy-on-write. With ``preload`` off only the message
index is kept and each frame is read from the bag when a sample needs it (every worker opens
the bag itself); depth ground truth and labels (1 byte a pixel) are always preloaded.

Errors. A missing, truncated or corrupt bag raises :class:`BagError` (a ValueError) naming the
bag, as does an image topic with fewer readable messages than the bag's index lists.
"""

from dataclasses import dataclass, field
import os
from pathlib import Path

from defeat_ros.bags.reader import BagError, open_bag, read_messages
from defeat_ros.bags.topics import find_camera_info_topic, find_image_topic, find_speed_topic
from defeat_ros.bags.topics import topic_connections
from defeat_ros.data.frame_windows import check_increasing
from defeat_ros.data.image_ops import resize_depth, resize_labels, resize_rgb
from defeat_ros.data.rectify import rectified_camera_matrix, Rectifier
from defeat_ros.data.sample import as_sample_config
from defeat_ros.data.sequence_bag import LABEL_TOPIC
from defeat_ros.data.sequence_dataset import FrameSource, SequenceDataset
from defeat_ros.data.travel import speeds_at
from defeat_ros.messages.decode import depth_to_metres, message_to_rgb, SPEED_TYPES, twist_speed
from defeat_ros.messages.typestore import CAMERA_INFO, header_ns, IMAGE
from defeat_ros.typed_config import TypedConfig
import numpy as np


MEDIAN_GAP_FACTOR = 2.5
"""Default largest frame interval, in median intervals (one dropped frame is tolerated)."""


SPEED_MAX_GAP_S = 0.5
"""Largest time (s) between two speed messages that a frame's speed is interpolated across."""


@dataclass
class BagConfig(TypedConfig):
    """Which bags and topics to train on."""

    paths: list = field(default_factory=list)
    """rosbag2 directories (or single .mcap/.db3 files); each is one sequence."""
    image_topic: str = ''
    """Image or CompressedImage topic; '' : the bag's only colour image topic."""
    camera_info_topic: str = ''
    """CameraInfo topic; '' : the only one, or the one beside the image topic."""
    depth_topic: str = ''
    """Ground-truth depth Image topic (32FC1 m or 16UC1 mm); '' : none."""
    label_topic: str = ''
    """Label Image topic (8UC1 or mono8 Cityscapes label-file ids); '' : the one Image topic
    named ``.../semantic`` if there is one; 'none': no labels."""
    speed_topic: str = ''
    """Vehicle speed topic (Odometry, TwistStamped, TwistWithCovarianceStamped); '' : the only
    one not named ground_truth; 'none': no speed."""
    intrinsics: list = field(default_factory=list)
    """Normalised [fx, fy, cx, cy] used instead of CameraInfo, no undistortion; [] : CameraInfo."""
    rectified: object = 'auto'
    """Topic already rectified (P, no undistortion): True, False, 'auto' (name has image_rect*)."""
    stamp_source: str = 'header'
    """Frame times: 'header' (header.stamp) or 'log' (when the message was recorded)."""
    max_gap_s: float = 0.0
    """Largest time between consecutive frames of a sample; 0: 2.5 median intervals; < 0: off."""
    preload: bool = True
    """Decode every frame into memory at the training resolution (else read on demand)."""

    def __post_init__(self):
        """Accept one path as a string and check the choices."""
        if isinstance(self.paths, (str, os.PathLike)):
            self.paths = [self.paths]
        self.paths = [str(path) for path in self.paths]
        if self.stamp_source not in ('header', 'log'):
            raise ValueError(f"stamp_source must be 'header' or 'log', got {self.stamp_source!r}")
        if self.intrinsics and len(self.intrinsics) != 4:
            raise ValueError(f'intrinsics are [fx, fy, cx, cy] normalised, got {self.intrinsics}')
        if self.intrinsics and self.camera_info_topic:
            raise ValueError('set intrinsics or camera_info_topic, not both: configured '
                             'intrinsics replace CameraInfo')
        if self.rectified != 'auto' and not isinstance(self.rectified, bool):
            raise ValueError(f"rectified must be 'auto', true or false, got {self.rectified!r}")


def is_rectified_topic(topic):
    """Whether a topic name has a component starting with ``image_rect`` (image_pipeline's)."""
    return any(part.startswith('image_rect') for part in topic.split('/'))


def image_array(message, where):
    """
    Decode a sensor_msgs Image or CompressedImage message to RGB uint8 H x W x 3.

    :param message: the deserialised message.
    :param where: bag and topic, for messages.
    :raises BagError: for an unsupported encoding or a malformed message.
    """
    try:
        return message_to_rgb(message)
    except ValueError as error:
        raise BagError(f'{where}: {error}') from None


def depth_array(message, where):
    """
    Decode a 32FC1 (metres) or 16UC1 (millimetres) depth Image to float32 H x W metres.

    :raises BagError: naming ``where`` for another encoding or a malformed message.
    """
    try:
        return depth_to_metres(message)
    except ValueError as error:
        raise BagError(f'{where}: {error}') from None


LABEL_ENCODINGS = ('8UC1', 'mono8')
"""Encodings of label Image messages: one uint8 id per pixel."""


def label_array(message, where):
    """
    Decode a label Image (8UC1 or mono8) to uint8 H x W ids (a copy; row padding dropped).

    :raises BagError: naming ``where`` for another encoding or a malformed message.
    """
    if message.encoding not in LABEL_ENCODINGS:
        raise BagError(f'{where}: label encoding must be one of {LABEL_ENCODINGS}, got '
                       f'{message.encoding!r}')
    height, width, step = int(message.height), int(message.width), int(message.step)
    data = np.frombuffer(memoryview(message.data), dtype=np.uint8)
    if height == 0 or width == 0 or step < width or data.size < step * height:
        raise BagError(f'{where}: label image {width}x{height} with step {step} does not fit '
                       f'its {data.size} bytes')
    return data[:height * step].reshape(height, step)[:, :width].copy()


def find_label_topic(reader, path, topic=''):
    """
    Return the label topic of an open bag: ``topic`` (checked), the one auto-found, or None.

    :param topic: the configured ``label_topic``: '' finds the one Image topic whose last name
        component is :data:`~defeat_ros.data.sequence_bag.LABEL_TOPIC`; 'none': None.
    :raises BagError: when a named topic is missing or not an Image, or several qualify.
    """
    if topic == 'none':
        return None
    if topic:
        topic_connections(reader, path, topic, (IMAGE,), 'label')
        return topic
    candidates = sorted({c.topic for c in reader.connections
                         if c.msgtype == IMAGE and c.topic.rsplit('/', 1)[-1] == LABEL_TOPIC})
    if len(candidates) > 1:
        raise BagError(f'bag {path}: set label_topic (or label_topic: none), there are several '
                       f'label topics ({", ".join(candidates)})')
    return candidates[0] if candidates else None


class BagSequence(FrameSource):
    """
    The frames of one bag's image topic, at the training resolution.

    :param path: the bag (directory, or a single .mcap/.db3 file).
    :param config: a :class:`BagConfig` (its ``paths`` are not used here).
    :param height: training image height.
    :param width: training image width.
    """

    def __init__(self, path, config, height, width):
        """Find the topics, read intrinsics, stamps and (with preload) the frames."""
        self.path = Path(path)
        self.config = config
        self.height, self.width = height, width
        self.reader = None
        self.reader_pid = None
        reader = open_bag(self.path)
        try:
            self.image_topic = self.find_image_topic(reader)
            self.where = f'bag {self.path}, topic {self.image_topic}'
            self.name = f'{self.path}:{self.image_topic}'
            self.rectified = (is_rectified_topic(self.image_topic)
                              if config.rectified == 'auto' else config.rectified)
            """Whether the topic is taken as rectified (used as recorded, intrinsics from P)."""
            info = self.find_camera_info(reader)
            self.read_frames(reader, info)
            self.read_speeds(reader)
            self.has_depth = bool(config.depth_topic)
            if self.has_depth:
                self.read_depths(reader)
            self.label_topic = find_label_topic(reader, self.path, config.label_topic)
            """The topic the labels come from (None: no labels)."""
            self.has_labels = self.label_topic is not None
            self.label_maps = self.read_labels(reader) if self.has_labels else None
        finally:
            reader.close()
        self.count = len(self.log_times)
        self.max_gap_s = self.gap_limit()

    def topic_connections(self, reader, topic, types, role):
        """Return the connections of ``topic``, checking that it exists with one of ``types``."""
        return topic_connections(reader, self.path, topic, types, role)

    def find_image_topic(self, reader):
        """Return the image topic: the configured one, or the only colour image topic."""
        return find_image_topic(reader, self.path, self.config.image_topic)

    def find_camera_info(self, reader):
        """Return the first CameraInfo message to use, or None when ``intrinsics`` are set."""
        if self.config.intrinsics:
            return None
        topic = find_camera_info_topic(reader, self.path, self.image_topic,
                                       self.config.camera_info_topic)
        connections = self.topic_connections(reader, topic, (CAMERA_INFO,), 'camera info')
        first = next(read_messages(reader, connections, self.path), None)
        if first is None:
            raise BagError(f'bag {self.path}: camera info topic {topic} has no messages')
        return first[2]

    def make_rectifier(self, info, width, height):
        """
        Return the Rectifier of the W x H frames.

        Configured intrinsics (``info`` None) and rectified topics (intrinsics from P) pass the
        frames through unchanged; raw topics are undistorted with D and R to the camera P.
        """
        if info is None:
            fx, fy, cx, cy = self.config.intrinsics
            k = [fx * width, 0.0, cx * width - 0.5, 0.0, fy * height, cy * height - 0.5,
                 0.0, 0.0, 1.0]
            return Rectifier(width, height, k, where=self.where)
        info_width, info_height = info.width or width, info.height or height
        if (info_width, info_height) != (width, height):
            raise BagError(f'{self.where}: images are {width}x{height} but the camera info is '
                           f'for {info_width}x{info_height}')
        if self.rectified:
            return Rectifier(width, height, rectified_camera_matrix(info.k, info.p),
                             where=self.where)
        return Rectifier(width, height, info.k, info.d, info.distortion_model, info.r, info.p,
                         where=self.where)

    def read_frames(self, reader, info):
        """Index the image messages; decode them when preloading; check their stamps."""
        connections = [c for c in reader.connections if c.topic == self.image_topic]
        self.log_times, headers, frames = [], [], []
        self.rectifier = None
        for _, log_time, message in read_messages(reader, connections, self.path):
            self.log_times.append(log_time)
            headers.append(header_ns(message))
            if self.config.preload or self.rectifier is None:
                image = image_array(message, self.where)
                if self.rectifier is None:
                    self.rectifier = self.make_rectifier(info, image.shape[1], image.shape[0])
                    self.k_norm = self.rectifier.k_norm
                if self.config.preload:
                    frames.append(self.prepare(image))
        if not self.log_times:
            raise BagError(f'{self.where}: the topic has no messages')
        listed = sum(c.msgcount for c in connections)
        if listed and len(self.log_times) != listed:  # rosbags skips damaged MCAP chunks
            raise BagError(f'{self.where}: read {len(self.log_times)} of the {listed} messages '
                           'the bag lists; it is truncated or corrupt')
        self.header_ns = np.array(headers, dtype=np.int64)
        """Header stamps of the frames (ns), which identify a frame's messages."""
        stamps = self.log_times if self.config.stamp_source == 'log' else self.header_ns
        self.stamps_ns = np.asarray(stamps, dtype=np.int64)
        """Frame times (ns) from the configured ``stamp_source``."""
        check_increasing(self.stamps_ns, f'{self.where} ({self.config.stamp_source} stamps)',
                         1e-9)
        self.stamps = self.stamps_ns / 1e9
        self.frames = np.stack(frames) if frames else None

    def read_speeds(self, reader):
        """Interpolate the speed topic, if there is one, at the frames (see the docstring)."""
        topic = find_speed_topic(reader, self.path, self.config.speed_topic)
        if topic is None:
            return
        where = f'bag {self.path}, speed topic {topic}'
        connections = self.topic_connections(reader, topic, SPEED_TYPES, 'speed')
        times, speeds = [], []
        for _, log_time, message in read_messages(reader, connections, self.path):
            times.append(log_time if self.config.stamp_source == 'log' else header_ns(message))
            speeds.append(twist_speed(message))
        if not times:
            raise BagError(f'{where}: the topic has no messages')
        self.speeds = speeds_at(times, speeds, self.stamps_ns, round(SPEED_MAX_GAP_S * 1e9))
        self.speed_source = f'bag topic {topic}'

    def read_depths(self, reader):
        """Preload the ground-truth depth of every frame (0 where no depth message matches)."""
        connections = self.topic_connections(reader, self.config.depth_topic, (IMAGE,), 'depth')
        position = {int(stamp): number for number, stamp in enumerate(self.header_ns)}
        self.depths = np.zeros((len(self.header_ns), self.height, self.width), np.float32)
        where = f'bag {self.path}, topic {self.config.depth_topic}'
        for _, _, message in read_messages(reader, connections, self.path):
            number = position.get(header_ns(message))
            if number is not None:
                depth = depth_array(message, where)
                depth = self.rectifier.apply(depth, nearest=True)
                self.depths[number] = resize_depth(depth, self.height, self.width)

    def read_labels(self, reader):
        """Return every frame's label-file ids: F x H x W uint8, training resolution (0: none)."""
        connections = self.topic_connections(reader, self.label_topic, (IMAGE,), 'label')
        position = {int(stamp): number for number, stamp in enumerate(self.header_ns)}
        labels = np.zeros((len(self.header_ns), self.height, self.width), np.uint8)
        where = f'bag {self.path}, topic {self.label_topic}'
        for _, _, message in read_messages(reader, connections, self.path):
            number = position.get(header_ns(message))
            if number is not None:
                ids = label_array(message, where)
                if ids.shape != (self.rectifier.height, self.rectifier.width):
                    raise BagError(f'{where}: labels are {ids.shape[1]}x{ids.shape[0]} but the '
                                   f'images {self.rectifier.width}x{self.rectifier.height}')
                ids = self.rectifier.apply(ids, nearest=True)
                labels[number] = resize_labels(ids, self.height, self.width)
        return labels

    def prepare(self, image):
        """Undistort and resize a decoded frame to the training resolution."""
        return resize_rgb(self.rectifier.apply(image), self.height, self.width)

    def gap_limit(self):
        """Return the largest allowed frame interval (s): configured or from the median."""
        if self.config.max_gap_s:
            return max(float(self.config.max_gap_s), 0.0)
        if self.count < 2:
            return 0.0
        return MEDIAN_GAP_FACTOR * float(np.median(np.diff(self.stamps)))

    def image(self, index):
        """Return frame ``index`` (RGB uint8 at the training resolution)."""
        if self.frames is not None:
            return self.frames[index]
        if self.reader is None or self.reader_pid != os.getpid():
            self.reader, self.reader_pid = open_bag(self.path), os.getpid()
        connections = [c for c in self.reader.connections if c.topic == self.image_topic]
        log_time = self.log_times[index]
        for _, _, message in read_messages(self.reader, connections, self.path, log_time,
                                           log_time + 1):
            if header_ns(message) == self.header_ns[index]:
                return self.prepare(image_array(message, self.where))
        raise BagError(f'{self.where}: frame {index} is no longer in the bag')

    def depth(self, index):
        """Return the ground truth of frame ``index`` (metres, 0 unknown)."""
        return self.depths[index]

    def labels(self, index):
        """Return the label-file ids of frame ``index`` (training resolution), or None."""
        return None if self.label_maps is None else self.label_maps[index]

    def frame_name(self, index):
        """Return the bag, topic and frame number of frame ``index``."""
        return f'{self.name} {index:06d}'

    def __getstate__(self):
        """Pickle without the open reader (each data-loading worker opens its own)."""
        state = dict(self.__dict__)
        state['reader'] = state['reader_pid'] = None
        return state


class RosbagDataset(SequenceDataset):
    """
    Training samples from rosbag2 recordings, one sequence per bag.

    :param config: a :class:`BagConfig` (or a mapping of one).
    :param sample: a :class:`~defeat_ros.data.sample.SampleConfig` (or a mapping, or None).
    """

    Config = BagConfig

    def __init__(self, config, sample=None):
        """Open every bag and index its usable frames."""
        if isinstance(config, dict):
            config = BagConfig.from_dict(config)
        if not config.paths:
            raise ValueError('BagConfig.paths lists no bags')
        self.source_config = config
        sample = as_sample_config(sample)
        sources = [BagSequence(path, config, sample.height, sample.width)
                   for path in config.paths]
        super().__init__(sources, sample)
