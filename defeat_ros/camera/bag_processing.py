"""
Offline bag processing (``defeat-ros process-bag IN OUT``): the node's outputs, as fast as it goes.

Every frame of a rosbag2 recording's camera topic (sensor_msgs Image or CompressedImage, MCAP
or SQLite 3) goes through :class:`~defeat_ros.camera.frame_step.FrameStep`, the step the
``defeat_node`` runs live, and the messages it builds are written into a new bag OUT, in the
same order as the input, without waiting for the recording's clock:

| topic (under the camera namespace) | type |
| --- | --- |
| ``depth/image`` | sensor_msgs/Image 32FC1, metres, NaN invalid |
| ``depth/visual`` | sensor_msgs/Image rgb8 at the depth's size (colour-mapped) |
| ``depth/camera_info`` | sensor_msgs/CameraInfo at the depth's size |
| ``features/visual`` | sensor_msgs/Image rgb8 at the features' size |
| ``features/camera_info`` | sensor_msgs/CameraInfo at the features' size |
| ``odometry`` | nav_msgs/Odometry ``odom`` -> ``base_link`` |
| ``points`` | sensor_msgs/PointCloud2 x y z rgb |

``features/image`` (32FC<n>) can be asked for as well, and any of them left out (``outputs``),
under the image topic's camera namespace (:mod:`~defeat_ros.camera.bag_outputs`); the names are
the node's, in image_transport's layout (each image's CameraInfo beside it). Depth, depth/visual
and points come at ``output_resolution``, the features at ``features_resolution`` (the
network's by default). Every output carries the header stamp and frame_id of its input image
and is logged at the input image's receive time. By default every input message is copied into
OUT unchanged (raw bytes, original receive times and QoS), so OUT replays as the recording plus
the results.

With ``scale_mode`` speed, the speed topic (``speed_topic``, or the bag's only Odometry,
TwistStamped or TwistWithCovarianceStamped topic) is read first, and each odometry step takes
its length from the speed integrated between the frames' header stamps, as in the node
(:class:`~defeat_ros.camera.speed_history.SpeedHistory`); the report counts those steps. A bag
without a speed topic is an error.

Intrinsics follow the node's camera_info policy (:mod:`~defeat_ros.camera.camera_info_cache`:
the latest usable CameraInfo wins), except that the first usable one also serves the frames
before it; ``intrinsics`` (normalised fx, fy, cx, cy) is the fallback for bags without one.

OUT is written as ``.<OUT name>.*.partial/<OUT name>`` beside OUT and renamed to OUT when
complete: an error or an interruption leaves no half-written OUT behind.

With ``preview``, ``<OUT>_preview.png`` (a contact sheet of a few frames: input, depth with its
colour bar, features) and ``<OUT>_preview.mp4`` (the same for up to 100 frames) are written
beside OUT (:mod:`~defeat_ros.camera.bag_preview`); the bag is the same with or without them.

Bad input, and what happens:
- a truncated or corrupt bag: the frames before the damage are processed and OUT is completed
  with them, then :class:`PartialBagError` (a ``BagError``) names the file, where the damage is
  and how many frames OUT holds. MCAP files rosbags cannot open at all (no summary: the
  recorder was killed) are read from the start up to the damage
  (:mod:`defeat_ros.bags.salvage`); a SQLite 3 file SQLite cannot open is an error.
- no image topic, several, or one of the wrong type; no CameraInfo (without ``intrinsics``):
  a ``BagError`` that lists the bag's topics and types.
- time going backwards (a looped or concatenated recording): odometry restarts at a new
  ``odom`` origin, a warning is printed, and processing goes on; every frame is still written
  with its own stamp. A repeated stamp or a gap longer than ``max_gap_s`` holds the pose and
  restarts tracking, as in the node.
- frames of mixed sizes: each frame is resized to the network and its outputs come out at its
  own size (``output_resolution`` 'input'); odometry restarts at the size change, with a
  warning. Normalised intrinsics carry over between sizes (a resized camera).
- a frame that cannot be decoded (unsupported encoding, corrupt JPEG): skipped with a warning,
  counted in the report; a bag where no frame can be processed is an error.
"""

from collections import Counter
import logging
from pathlib import Path
import sys
import time

from defeat_ros.bags.reader import BagError, open_salvaging, READ_ERRORS, read_messages, read_raw
from defeat_ros.bags.topics import describe_topics, find_camera_info_topic, find_image_topic
from defeat_ros.bags.topics import find_speed_topic
from defeat_ros.bags.writer import copy_connection, create_bag
from defeat_ros.camera.bag_outputs import camera_namespace, output_topics
from defeat_ros.camera.bag_preview import BagPreview, NEEDED, preview_paths
from defeat_ros.camera.camera_info_cache import camera_info_problem, CameraInfoCache
from defeat_ros.camera.frame_step import FrameStep
from defeat_ros.camera.model_location import model_option
from defeat_ros.camera.process_config import ProcessConfig, ProcessReport
from defeat_ros.camera.speed_history import SpeedHistory
from defeat_ros.messages.decode import parameter_intrinsics, twist_speed
from defeat_ros.messages.typestore import CAMERA_INFO, COMPRESSED_IMAGE, header_ns, TYPESTORE
from tqdm import tqdm

LOG = logging.getLogger(__name__)


RESTART_KINDS = ('time jumped backwards', 'repeated stamp', 'image size changed', 'gap')
"""How the report groups the reasons OdometryChain gives for restarting tracking."""

WARNINGS_PER_KIND = 5
"""Warnings of one kind printed in full; the rest are only counted in the report."""


class PartialBagError(BagError):
    """
    The input bag is damaged: OUT holds the results of its readable part (``report``).

    Raised after OUT is complete; the message names the input file and the damage.
    """

    def __init__(self, message, report):
        """Keep the report of what was written."""
        super().__init__(message)
        self.report = report


def restart_kind(reason):
    """Return the kind of an odometry restart reason (its variable details dropped)."""
    return next((kind for kind in RESTART_KINDS if reason.startswith(kind)), reason)


class BagProcessor:
    """
    One run of process-bag: the input reader, the output writer and the per-camera state.

    Use :func:`process_bag`; this class only holds the state its steps share.
    """

    def __init__(self, source, output, config, log):
        """Remember the paths and options; nothing is opened yet."""
        self.source, self.output, self.config = Path(source), Path(output), config
        self.log = log
        self.report = ProcessReport(self.source, self.output)
        self.warned = Counter()
        self.writer = None
        self.bar = tqdm(disable=True)
        """The progress bar of the frames (none until the frames start)."""
        self.preview = None
        """The BagPreview, with ``preview``."""
        self.speeds = None
        """The speed topic's SpeedHistory, in ``scale_mode`` speed."""

    def warn(self, kind, text):
        """Report a warning; only the first WARNINGS_PER_KIND of a kind are printed."""
        self.warned[kind] += 1
        if self.warned[kind] <= WARNINGS_PER_KIND:
            if self.warned[kind] == WARNINGS_PER_KIND:
                text += f' (further {kind} warnings are only counted)'
            self.report.warnings.append(text)
            self.log(f'warning: {text}')

    def find_topics(self, reader):
        """Choose image and camera info topics and the output topics; check they can be used."""
        report, config = self.report, self.config
        report.image_topic = find_image_topic(reader, self.source, config.image_topic)
        self.image_connections = [c for c in reader.connections
                                  if c.topic == report.image_topic]
        self.compressed = self.image_connections[0].msgtype == COMPRESSED_IMAGE
        report.total = sum(c.msgcount for c in self.image_connections)
        report.camera_info_topic = find_camera_info_topic(
            reader, self.source, report.image_topic, config.camera_info_topic,
            optional=bool(config.intrinsics))
        self.info_connections = [c for c in reader.connections
                                 if c.topic == report.camera_info_topic]
        namespace = config.namespace or camera_namespace(report.image_topic, self.compressed)
        self.outputs = output_topics(namespace, config.outputs)
        report.topics = {topic: msgtype for msgtype, topic in self.outputs.values()}
        taken = sorted(t for t in report.topics if any(c.topic == t for c in reader.connections))
        if taken and config.copy_input:
            raise BagError(f'bag {self.source} already has the output topics '
                           f'{", ".join(taken)}; choose another namespace or do not copy the '
                           f'input (the bag has: {describe_topics(reader)})')

    def read_speeds(self, reader):
        """
        Read the whole speed topic into :attr:`speeds` (``scale_mode`` speed).

        A damaged bag keeps the measurements before the damage, with a warning.

        :raises BagError: when the bag has no speed topic, or several and none is named.
        """
        topic = find_speed_topic(reader, self.source, self.config.speed_topic)
        if topic is None:
            raise BagError(f'bag {self.source}: scale_mode speed needs the vehicle speed, and '
                           f'the bag has no Odometry, TwistStamped or TwistWithCovarianceStamped '
                           f'topic; the bag has: {describe_topics(reader)}')
        self.report.speed_topic = topic
        self.speeds = SpeedHistory(kept=None)
        connections = [c for c in reader.connections if c.topic == topic]
        try:
            for _, _, message in read_messages(reader, connections, self.source):
                self.speeds.add(header_ns(message), twist_speed(message))
        except BagError as error:
            self.warn('speed', f'speed topic {topic}: measurements after the damage are '
                      f'missing ({error})')

    def first_camera_info(self, reader):
        """
        Make the camera_info cache, seeded with the topic's first usable CameraInfo.

        That CameraInfo serves the frames before it; without one the configured intrinsics
        are the fallback (see :mod:`~defeat_ros.camera.camera_info_cache`).

        :raises BagError: when there are neither.
        """
        topic = self.report.camera_info_topic
        fallback = None
        if self.config.intrinsics:
            fallback = parameter_intrinsics(*self.config.intrinsics)
        self.camera_info = CameraInfoCache(fallback, topic, 'the configured intrinsics',
                                           self.warn)
        problem = 'none is calibrated'
        if self.info_connections:
            try:
                for _, _, raw in read_raw(reader, self.info_connections, self.source):
                    info = reader.deserialize(raw, CAMERA_INFO)
                    if not camera_info_problem(info):
                        self.camera_info.update(info)
                        return
            except BagError as error:
                problem = f'none could be read before the damage: {error}'
        if fallback is None:
            raise BagError(f'bag {self.source}: camera info topic {topic} has no usable '
                           f'CameraInfo ({problem}); give intrinsics (normalised fx,fy,cx,cy) '
                           f'instead')

    def open_output(self, reader, writer):
        """Add the output bag's connections to ``writer`` (a new bag's BagWriter)."""
        self.writer = writer
        self.copies = {}
        if self.config.copy_input:
            typestore = getattr(reader, 'typestore', TYPESTORE)
            added = {}
            for connection in reader.connections:
                key = (connection.topic, connection.msgtype, repr(connection.ext))
                if key not in added:
                    added[key] = copy_connection(self.writer, connection, typestore)
                    if added[key] is None:
                        self.warn('copy', f'{connection.topic} ({connection.msgtype}) is not '
                                  f'copied: its message definition is unknown')
                self.copies[connection.id] = added[key]
        self.output_connections = {
            key: self.writer.add_connection(topic, msgtype, typestore=TYPESTORE)
            for key, (msgtype, topic) in self.outputs.items()}

    def run(self, reader, perception):
        """Process every frame and copy the input; return why reading stopped early ('')."""
        config = self.config
        step = FrameStep(perception, config, self.camera_info, self.speeds)
        image_ids = {c.id for c in self.image_connections}
        info_ids = {c.id for c in self.info_connections}
        connections = (reader.connections if config.copy_input
                       else self.image_connections + self.info_connections)
        index = -1
        try:
            for connection, log_time, raw in read_raw(reader, connections, self.source):
                copy = self.copies.get(connection.id)
                if copy is not None:
                    self.writer.write(copy, log_time, raw)
                    self.report.copied += 1
                if connection.id in info_ids:
                    self.camera_info.update(reader.deserialize(raw, CAMERA_INFO))
                elif connection.id in image_ids:
                    index += 1
                    self.frame(step, reader, raw, connection.msgtype, log_time, index)
                    self.bar.update()
        except BagError as error:
            return str(error)
        return ''

    def frame(self, step, reader, raw, msgtype, log_time, index):
        """Process one serialised image message (the ``index``-th) and write its outputs."""
        report = self.report
        try:
            message = reader.deserialize(raw, msgtype)
        except READ_ERRORS as error:
            return self.skip(index, error)
        preview = self.preview is not None and self.preview.wants(index)
        try:
            frame = step(message, self.outputs.keys() | NEEDED if preview else self.outputs)
        except ValueError as error:  # UnsupportedEncoding, undecodable data
            return self.skip(index, error)
        restart = frame.estimate.reset_reason
        if restart.startswith('time jumped backwards'):
            self.warn('time', f'frame {index} of {report.image_topic}: {restart}; odometry '
                      f'restarts at a new origin')
        elif restart.startswith(('image size changed', 'repeated stamp')):
            self.warn('size' if restart.startswith('image') else 'stamp',
                      f'frame {index} of {report.image_topic}: {restart}; odometry restarts')
        if restart and restart != 'first frame':
            report.odometry_restarts[restart_kind(restart)] += 1
        for key, output in frame.messages.items():
            connection = self.output_connections.get(key)
            if connection is not None:
                self.writer.write(connection, log_time,
                                  TYPESTORE.serialize_cdr(output, connection.msgtype))
        report.frames += 1
        report.scale = frame.result.scale
        report.steps += frame.result.transform is not None
        report.steps_from_speed += frame.result.step_from_speed
        report.ground_planes += bool(frame.result.scale_confidence)
        if preview:
            self.preview.add(index, message, frame)

    def skip(self, index, error):
        """Count the ``index``-th frame as skipped because of ``error``, with a warning."""
        self.report.skipped += 1
        self.warn('frame', f'frame {index} of {self.report.image_topic} skipped: {error}')


def process_bag(source, output, config=None, log=None, progress=False):
    """
    Run the node's Perception step over a bag and write its outputs into a new bag.

    See the module docstring for the topics, the options and what happens with bad input.

    :param source: the input bag (directory, or a single .mcap/.db3 file).
    :param output: the bag directory to create (must not exist, nor, with ``preview``, its
        preview files).
    :param config: a :class:`ProcessConfig` (or a mapping of one; None: the defaults).
    :param log: called with each warning line (default: this module's logger).
    :param progress: show a progress bar of the frames on stderr (tqdm); warnings are then
        printed above it, not logged.
    :return: ProcessReport.
    :raises FileExistsError: when ``output`` exists (or a preview file, with ``preview``).
    :raises BagError: when the bag cannot be used (nothing is written), or, as
        :class:`PartialBagError`, when it is damaged (OUT holds the readable part).
    """
    if config is None:
        config = ProcessConfig()
    elif isinstance(config, dict):
        config = ProcessConfig.from_dict(config)
    source, output = Path(source), Path(output)
    for path in (output, *(preview_paths(output) if config.preview else ())):
        if path.exists():
            raise FileExistsError(f'{path} exists already, not overwriting')
    from defeat_ros.runtime.perception import Perception  # loads torch and the backends

    def say(text):
        if progress:
            tqdm.write(text, file=sys.stderr)
        else:
            (log or LOG.warning)(text)

    processor = BagProcessor(source, output, config, say)
    report = processor.report
    report.model = model_option(config.model)
    reader, opened_damaged = open_salvaging(source)
    try:
        processor.find_topics(reader)
        processor.first_camera_info(reader)
        if config.scale_mode == 'speed':
            processor.read_speeds(reader)
        perception = Perception(report.model, config.backend, config.scale_mode,
                                config.camera_height, config.pose_refinement,
                                device=config.device,
                                precision=config.precision)
        report.backend = perception.backend.name
        report.metric_source = perception.metric_source
        if config.preview:
            processor.preview = BagPreview(output, report.total)
        start = time.monotonic()
        processor.bar = tqdm(total=report.total, desc='process-bag', unit='frame',
                             file=sys.stderr, disable=not progress)
        with create_bag(output, config.storage) as writer:
            processor.open_output(reader, writer)
            damage = processor.run(reader, perception)
            if report.frames == 0 and not damage:
                raise BagError(f'bag {source}: no frame of {report.image_topic} could be '
                               f'processed ({report.total} listed, {report.skipped} skipped)')
    except BaseException:
        if processor.preview is not None:
            processor.preview.abort()
        raise
    finally:
        reader.close()
        processor.bar.close()
    if processor.preview is not None:
        report.previews = processor.preview.finish()
    report.seconds = time.monotonic() - start
    damage = damage or opened_damaged
    if damage:
        report.damage = damage
        raise PartialBagError(
            f'{damage}\nThe bag is damaged: processed the {report.frames} frames read before '
            f'the damage ({report.skipped} skipped) and wrote them to {output}', report)
    return report
