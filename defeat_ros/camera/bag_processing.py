"""
Offline bag processing (``defeat-ros process-bag IN OUT``): the node's outputs, as fast as it goes.

Every frame of a rosbag2 recording's camera topic (sensor_msgs Image or CompressedImage, MCAP
or SQLite 3) goes through :func:`~defeat_ros.camera.frame_step.process_frame`, the step the
``defeat_node`` runs live, and the messages it builds are written into a new bag OUT, in the
same order as the input, without waiting for the recording's clock:

| topic (under the camera namespace) | type |
| --- | --- |
| ``depth`` | sensor_msgs/Image 32FC1, metres, NaN invalid |
| ``depth/camera_info`` | sensor_msgs/CameraInfo at the depth's size |
| ``features/visual`` | sensor_msgs/Image rgb8 |
| ``odometry`` | nav_msgs/Odometry ``odom`` -> ``base_link`` |
| ``points`` | sensor_msgs/PointCloud2 x y z rgb |

``features`` (32FC<n>) and ``depth/visual`` can be asked for as well (``outputs``). The camera
namespace is the image topic's (``/camera/image_raw`` and ``/camera/image_raw/compressed``:
``/camera``), so the names are those the node publishes when it runs in that namespace;
``namespace`` overrides it. Every output carries the header stamp and frame_id of its input
image and is logged at the input image's receive time. By default every input message is
copied into OUT unchanged (raw bytes, original receive times and QoS), so OUT replays as
the recording plus the results.

Intrinsics come from the camera's CameraInfo topic, latest message wins (the first usable one
serves the frames before it), like the node; ``intrinsics`` (normalised fx, fy, cx, cy) is the
fallback for bags without one.

OUT is written as ``.<OUT name>.*.partial/<OUT name>`` beside OUT and renamed to OUT when
complete: an error or an interruption leaves no half-written OUT behind.

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
from contextlib import suppress
from dataclasses import dataclass, field
import logging
from pathlib import Path
import shutil
import sys
import tempfile
import time

from defeat_ros.bags.reader import BagError, open_bag, READ_ERRORS, read_raw
from defeat_ros.bags.salvage import mcap_files, SalvageReader
from defeat_ros.bags.topics import describe_topics, find_camera_info_topic, find_image_topic
from defeat_ros.bags.writer import BAG_VERSION, STORAGES
from defeat_ros.camera.frame_step import OUTPUT_TOPICS, process_frame
from defeat_ros.camera.model_location import ConfigurationError, default_model_candidates
from defeat_ros.camera.model_location import resolve_model
from defeat_ros.camera.odometry import OdometryChain
from defeat_ros.messages.decode import camera_info_intrinsics, compressed_to_rgb, image_to_array
from defeat_ros.messages.decode import parameter_intrinsics
from defeat_ros.messages.typestore import CAMERA_INFO, COMPRESSED_IMAGE, stamp_to_ns, TYPESTORE
from defeat_ros.typed_config import TypedConfig
import numpy as np
from rosbags.rosbag2 import Writer

LOG = logging.getLogger(__name__)

TOPIC_KEYS = {topic: key for key, (_, topic) in OUTPUT_TOPICS.items()}
"""Output key of each relative output topic."""

DEFAULT_OUTPUTS = ('depth', 'depth/camera_info', 'features/visual', 'odometry', 'points')
"""Outputs written unless asked otherwise (relative topic names)."""

RESTART_KINDS = ('time jumped backwards', 'repeated stamp', 'image size changed', 'gap')
"""How the report groups the reasons OdometryChain gives for restarting tracking."""

WARNINGS_PER_KIND = 5
"""Warnings of one kind printed in full; the rest are only counted in the report."""


@dataclass
class ProcessConfig(TypedConfig):
    """How to process a bag; the node's parameters where they share a name."""

    model: str = ''
    """Model directory; '' : the default model (as the node's empty ``model`` parameter)."""
    backend: str = 'auto'
    """Inference backend: auto, onnxruntime, pytorch or tensorrt."""
    device: str = 'auto'
    """Device: auto, cpu, cuda or cuda:<index>."""
    precision: str = 'fp32'
    """fp32, fp16 (GPU backends), bf16 (CPU PyTorch) or int8 (ONNX Runtime)."""
    scale_mode: str = 'model'
    """Metric scale: 'model' (as trained) or 'camera_height' (ground plane at camera_height)."""
    camera_height: float = 1.65
    """Camera height above the ground (m), for scale_mode 'camera_height'."""
    storage: str = 'mcap'
    """Storage of OUT: mcap or sqlite3."""
    image_topic: str = ''
    """Image or CompressedImage topic; '' : the bag's only colour image topic."""
    camera_info_topic: str = ''
    """CameraInfo topic; '' : the only one, or the one beside the image topic."""
    namespace: str = ''
    """Namespace of the output topics; '' : the image topic's camera namespace; '/' : none."""
    outputs: list = field(default_factory=lambda: list(DEFAULT_OUTPUTS))
    """Output topics to write, relative names: depth, depth/camera_info, features,
    features/visual, depth/visual, odometry, points."""
    output_resolution: str = 'input'
    """Size of depth and features: 'input' (each image's) or 'model' (the network's)."""
    copy_input: bool = True
    """Copy every input message into OUT."""
    intrinsics: list = field(default_factory=list)
    """Normalised [fx, fy, cx, cy] for bags without CameraInfo; [] : CameraInfo required."""
    point_stride: int = 4
    """Keep every point_stride-th pixel in both directions for points."""
    odom_frame: str = 'odom'
    """Fixed frame of the odometry (REP-105)."""
    base_frame: str = 'base_link'
    """Body frame whose motion the odometry reports (REP-105)."""
    max_gap_s: float = 0.5
    """A gap between frames longer than this (s) restarts odometry tracking."""

    def __post_init__(self):
        """Check the choices; accept comma-separated outputs and intrinsics."""
        if isinstance(self.outputs, str):
            self.outputs = [name.strip() for name in self.outputs.split(',') if name.strip()]
        unknown = [name for name in self.outputs if name not in TOPIC_KEYS]
        if unknown or not self.outputs:
            raise ValueError(f'outputs must be some of {", ".join(TOPIC_KEYS)}, '
                             f'got {", ".join(unknown) or "none"}')
        if isinstance(self.intrinsics, str):
            try:
                self.intrinsics = [float(v) for v in self.intrinsics.split(',') if v.strip()]
            except ValueError:
                raise ValueError(f'intrinsics are fx,fy,cx,cy normalised, got '
                                 f'{self.intrinsics!r}') from None
        if self.intrinsics and (len(self.intrinsics) != 4 or min(self.intrinsics[:2]) <= 0):
            raise ValueError(f'intrinsics are [fx, fy, cx, cy] normalised, fx and fy > 0, '
                             f'got {self.intrinsics}')
        if self.storage not in STORAGES:
            raise ValueError(f'storage must be one of {", ".join(STORAGES)}, '
                             f'got {self.storage!r}')
        if self.output_resolution not in ('input', 'model'):
            raise ValueError(f"output_resolution must be 'input' or 'model', "
                             f'got {self.output_resolution!r}')
        if self.point_stride < 1:
            raise ValueError(f'point_stride must be >= 1, got {self.point_stride}')
        if self.max_gap_s <= 0:
            raise ValueError(f'max_gap_s must be positive, got {self.max_gap_s}')


@dataclass
class ProcessReport:
    """What :func:`process_bag` did."""

    source: Path
    """The input bag."""
    output: Path
    """The bag written."""
    model: Path = None
    backend: str = ''
    image_topic: str = ''
    camera_info_topic: str = None
    """None when the intrinsics came from the configuration."""
    topics: dict = field(default_factory=dict)
    """Output topic -> message type."""
    total: int = 0
    """Image messages the bag lists (of its readable part, when damaged)."""
    frames: int = 0
    """Frames processed and written."""
    skipped: int = 0
    """Frames that could not be decoded."""
    copied: int = 0
    """Input messages copied into OUT."""
    odometry_restarts: Counter = field(default_factory=Counter)
    """Why odometry tracking restarted (kind -> count), the first frame not counted."""
    warnings: list = field(default_factory=list)
    """Warnings printed (at most WARNINGS_PER_KIND of a kind)."""
    damage: str = ''
    """Why reading stopped before the end of the bag ('' when it did not)."""
    seconds: float = 0.0
    """Wall time of reading, processing and writing (after the model is loaded)."""

    def summary(self):
        """Return a few lines for people: what was written, how fast, what went wrong."""
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        lines = [f'{self.output}: {self.frames} frames of {self.image_topic} processed with '
                 f'{self.model} on {self.backend} in {self.seconds:.1f} s '
                 f'({rate:.1f} frames/s)',
                 f'  outputs: {", ".join(self.topics)}']
        if self.copied:
            lines.append(f'  copied {self.copied} input messages')
        if self.skipped:
            lines.append(f'  skipped {self.skipped} frames that could not be decoded')
        if self.odometry_restarts:
            restarts = ', '.join(f'{kind}: {count}'
                                 for kind, count in sorted(self.odometry_restarts.items()))
            lines.append(f'  odometry restarted ({restarts})')
        return '\n'.join(lines)


class PartialBagError(BagError):
    """
    The input bag is damaged: OUT holds the results of its readable part (``report``).

    Raised after OUT is complete; the message names the input file and the damage.
    """

    def __init__(self, message, report):
        """Keep the report of what was written."""
        super().__init__(message)
        self.report = report


class Progress:
    """
    A one-line progress display of frames processed, on a text stream (stderr by default).

    On a terminal the line is redrawn in place; otherwise a line is printed every 10 %.
    Warnings printed through :meth:`message` do not garble it.
    """

    def __init__(self, total=0, stream=None, label='process-bag'):
        """Start the clock; ``total`` frames expected (0: unknown)."""
        self.label = label
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, 'isatty', lambda: False)())
        self.pending = False
        self.begin(total)

    def begin(self, total):
        """Restart the clock for ``total`` frames (once the model is loaded)."""
        self.total = total
        self.start = time.monotonic()
        self.drawn = 0.0
        self.decile = 0

    def line(self, done):
        """Return the text of the progress line after ``done`` frames."""
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = done / elapsed
        text = f'{self.label}: {done}'
        if self.total:
            fraction = min(done / self.total, 1.0)
            bar = '#' * int(fraction * 20)
            text = f'{self.label}: [{bar:<20s}] {done}/{self.total} frames ({fraction:4.0%})'
            if rate > 0 and done < self.total:
                text += f', {(self.total - done) / rate:.0f} s left'
        else:
            text += ' frames'
        return text + f', {rate:.1f} frames/s'

    def update(self, done):
        """Show that ``done`` frames are processed (redrawn at most ten times a second)."""
        if self.live:
            now = time.monotonic()
            if now - self.drawn >= 0.1 or done == self.total:
                self.stream.write('\r' + self.line(done) + '\033[K')
                self.stream.flush()
                self.drawn, self.pending = now, True
        elif self.total and int(10 * done / self.total) > self.decile:
            self.decile = int(10 * done / self.total)
            print(self.line(done), file=self.stream, flush=True)

    def message(self, text):
        """Print a line of text above the progress line."""
        self.finish()
        print(text, file=self.stream, flush=True)

    def finish(self):
        """End the live line."""
        if self.pending:
            self.stream.write('\n')
            self.pending = False


def restart_kind(reason):
    """Return the kind of an odometry restart reason (its variable details dropped)."""
    return next((kind for kind in RESTART_KINDS if reason.startswith(kind)), reason)


def camera_namespace(image_topic, compressed):
    """
    Return the camera namespace of an image topic ('' at the root).

    ``/camera/image_raw`` -> ``/camera``; a CompressedImage topic ``.../image_raw/compressed``
    is image_transport's name for ``.../image_raw``, so it gives ``/camera`` too.
    """
    topic = '/' + image_topic.strip('/')
    if compressed and topic.endswith('/compressed'):
        topic = topic[:-len('/compressed')]
    return topic.rsplit('/', 1)[0]


def output_topics(namespace, outputs):
    """Return {output key: (message type, absolute topic)} of the wanted relative topics."""
    prefix = '/' + namespace.strip('/') if namespace.strip('/') else ''
    wanted = {TOPIC_KEYS[name] for name in outputs}
    return {key: (msgtype, f'{prefix}/{topic}') for key, (msgtype, topic)
            in OUTPUT_TOPICS.items() if key in wanted}


def open_input(path):
    """
    Open a bag for reading; MCAP files rosbags cannot open are salvaged from their start.

    :return: (reader, damage): damage says why the bag could not be opened whole ('' if it was).
    :raises BagError: naming the bag when nothing of it can be read.
    """
    try:
        return open_bag(path), ''
    except BagError as error:
        if not Path(path).exists() or not mcap_files(path):
            raise
        try:
            reader = SalvageReader(path)
        except READ_ERRORS as salvage_error:
            raise BagError(f'{error}; nothing of it could be salvaged ({salvage_error})') \
                from error
        if not reader.readable:
            raise BagError(f'{error}; no intact message found before the damage '
                           f'({reader.damage})') from error
        return reader, str(error)


def copy_connection(writer, connection, typestore):
    """
    Add an output connection like ``connection`` (type, definition, QoS); None if impossible.

    Bags without message definitions (SQLite 3, rosbag2 before Iron) get them from the typestore.
    """
    msgdef, digest = connection.msgdef.data, connection.digest
    if not msgdef or not digest:
        try:
            msgdef, _ = typestore.generate_msgdef(connection.msgtype, ros_version=2)
            digest = typestore.hash_rihs01(connection.msgtype)
        except Exception:  # a type the typestore lacks: rosbags raises several kinds
            return None
    ext = connection.ext
    return writer.add_connection(
        connection.topic, connection.msgtype, msgdef=msgdef, rihs01=digest,
        serialization_format=getattr(ext, 'serialization_format', 'cdr'),
        offered_qos_profiles=getattr(ext, 'offered_qos_profiles', ()))


class BagProcessor:
    """
    One run of process-bag: the input reader, the output writer and the per-camera state.

    Use :func:`process_bag`; this class only holds the state its steps share.
    """

    def __init__(self, source, output, config, log, progress):
        """Remember the paths and options; nothing is opened yet."""
        self.source, self.output, self.config = Path(source), Path(output), config
        self.log, self.progress = log, progress
        self.report = ProcessReport(self.source, self.output)
        self.warned = Counter()
        self.writer = None

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

    def first_camera_info(self, reader):
        """
        Find the intrinsics for the frames before the first usable CameraInfo arrives.

        That is the first usable CameraInfo of the topic, else the configured intrinsics.

        :raises BagError: when there are neither.
        """
        self.info, self.fallback = None, None
        problem = 'none is calibrated'
        if self.info_connections:
            try:
                for _, _, raw in read_raw(reader, self.info_connections, self.source):
                    self.info = self.usable_camera_info(reader, raw, warn=False)
                    if self.info is not None:
                        return
            except BagError as error:
                problem = f'none could be read before the damage: {error}'
        if self.config.intrinsics:
            self.fallback = parameter_intrinsics(*self.config.intrinsics)
            if self.info_connections:
                self.warn('intrinsics', f'no usable CameraInfo on {self.report.camera_info_topic}'
                          f' ({problem}); using the configured intrinsics')
            return
        raise BagError(f'bag {self.source}: camera info topic {self.report.camera_info_topic} '
                       f'has no usable CameraInfo ({problem}); give intrinsics (normalised '
                       f'fx,fy,cx,cy) instead')

    def usable_camera_info(self, reader, raw, warn=True):
        """Return a serialised CameraInfo deserialised, or None when it has no intrinsics."""
        info = reader.deserialize(raw, CAMERA_INFO)
        try:
            camera_info_intrinsics(info, 1, 1)
        except ValueError as error:
            if warn:
                self.warn('camera_info', f'{self.report.camera_info_topic}: {error}; keeping '
                          f'the previous intrinsics')
            return None
        if np.any(np.asarray(info.d) != 0.0) and not self.warned['distortion']:
            self.warn('distortion', f'{self.report.camera_info_topic} has lens distortion, '
                      f'which is ignored: the images are taken to be rectified')
        return info

    def intrinsics(self, size):
        """Return the normalised intrinsics of a frame of ``size`` (height, width)."""
        if self.info is not None:
            return camera_info_intrinsics(self.info, *size)
        return self.fallback

    def open_output(self, reader, temporary):
        """Create the output bag in ``temporary`` and its connections."""
        self.writer = Writer(temporary / self.output.name, version=BAG_VERSION,
                             storage_plugin=STORAGES[self.config.storage])
        self.writer.open()
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

    def abandon_output(self):
        """Close the output bag's files after a failure (the bag is deleted anyway)."""
        if self.writer is not None:
            with suppress(Exception):  # a failing close must not hide the failure itself
                self.writer.abort()

    def run(self, reader, perception):
        """Process every frame and copy the input; return why reading stopped early ('')."""
        config, report = self.config, self.report
        chain = OdometryChain(config.max_gap_s)
        wanted = dict.fromkeys(self.outputs, True)
        wanted.setdefault('odometry', False)
        image_ids = {c.id for c in self.image_connections}
        info_ids = {c.id for c in self.info_connections}
        connections = (reader.connections if config.copy_input
                       else self.image_connections + self.info_connections)
        decode = compressed_to_rgb if self.compressed else image_to_array
        index = -1
        try:
            for connection, log_time, raw in read_raw(reader, connections, self.source):
                copy = self.copies.get(connection.id)
                if copy is not None:
                    self.writer.write(copy, log_time, raw)
                    report.copied += 1
                if connection.id in info_ids:
                    latest = self.usable_camera_info(reader, raw)
                    self.info = self.info if latest is None else latest
                elif connection.id in image_ids:
                    index += 1
                    self.frame(reader, raw, connection.msgtype, decode, log_time, index, chain,
                               perception, wanted)
                    self.progress(report.frames + report.skipped)
        except BagError as error:
            return str(error)
        return ''

    def frame(self, reader, raw, msgtype, decode, log_time, index, chain, perception, wanted):
        """Process one serialised image message and write its outputs."""
        config, report = self.config, self.report
        try:
            message = reader.deserialize(raw, msgtype)
            image, encoding = decode(message)
        except READ_ERRORS as error:  # UnsupportedEncoding and bad data are ValueErrors
            report.skipped += 1
            self.warn('frame', f'frame {index} of {report.image_topic} skipped: {error}')
            return
        stamp = stamp_to_ns(message.header.stamp)
        size = tuple(image.shape[:2])
        reason = chain.reset_reason(stamp, size)
        if reason.startswith('time jumped backwards'):
            self.warn('time', f'frame {index} of {report.image_topic}: {reason}; odometry '
                      f'restarts at a new origin')
        elif reason.startswith(('image size changed', 'repeated stamp')):
            self.warn('size' if reason.startswith('image') else 'stamp',
                      f'frame {index} of {report.image_topic}: {reason}; odometry restarts')
        frame = process_frame(perception, chain, image, encoding, stamp, message.header.frame_id,
                              self.intrinsics(size), wanted, config.output_resolution,
                              config.point_stride, config.odom_frame, config.base_frame)
        restart = frame.estimate.reset_reason
        if restart and restart != 'first frame':
            report.odometry_restarts[restart_kind(restart)] += 1
        for key, output in frame.messages.items():
            connection = self.output_connections.get(key)
            if connection is not None:
                self.writer.write(connection, log_time,
                                  TYPESTORE.serialize_cdr(output, connection.msgtype))
        report.frames += 1


def resolve_model_dir(model):
    """Return the model directory: ``model``, or the default model when it is ''."""
    if model:
        return Path(model)
    try:
        return resolve_model('')
    except ConfigurationError:
        looked = ', '.join(map(str, default_model_candidates()))
        raise FileNotFoundError(f'no default model is installed (looked in {looked}); give a '
                                f'model directory (--model)') from None


def process_bag(source, output, config=None, log=None, progress=None):
    """
    Run the node's Perception step over a bag and write its outputs into a new bag.

    See the module docstring for the topics, the options and what happens with bad input.

    :param source: the input bag (directory, or a single .mcap/.db3 file).
    :param output: the bag directory to create (must not exist).
    :param config: a :class:`ProcessConfig` (or a mapping of one; None: the defaults).
    :param log: called with each warning line (default: this module's logger).
    :param progress: a :class:`Progress`, or None for none.
    :return: ProcessReport.
    :raises FileExistsError: when ``output`` exists.
    :raises BagError: when the bag cannot be used (nothing is written), or, as
        :class:`PartialBagError`, when it is damaged (OUT holds the readable part).
    """
    if config is None:
        config = ProcessConfig()
    elif isinstance(config, dict):
        config = ProcessConfig.from_dict(config)
    source, output = Path(source), Path(output)
    if output.exists():
        raise FileExistsError(f'{output} exists already, not overwriting')
    from defeat_ros.runtime.perception import Perception  # loads torch and the backends

    def say(text):
        if progress is not None:
            progress.message(text)
        elif log is not None:
            log(text)
        else:
            LOG.warning(text)

    processor = BagProcessor(source, output, config, say,
                             progress.update if progress else lambda done: None)
    report = processor.report
    reader, opened_damaged = open_input(source)
    try:
        processor.find_topics(reader)
        processor.first_camera_info(reader)
        report.model = resolve_model_dir(config.model)
        perception = Perception(report.model, config.backend, config.scale_mode,
                                config.camera_height, device=config.device,
                                precision=config.precision)
        report.backend = perception.backend.name
        start = time.monotonic()
        if progress is not None:
            progress.begin(report.total)
        output.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=f'.{output.name}.', suffix='.partial',
                                          dir=output.parent))
        try:
            processor.open_output(reader, temporary)
            damage = processor.run(reader, perception)
            processor.writer.close()
            if report.frames == 0 and not damage:
                raise BagError(f'bag {source}: no frame of {report.image_topic} could be '
                               f'processed ({report.total} listed, {report.skipped} skipped)')
            if output.exists():
                raise FileExistsError(f'{output} appeared while processing, not overwriting')
            (temporary / output.name).rename(output)
        except BaseException:
            processor.abandon_output()
            raise
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
    finally:
        reader.close()
        if progress is not None:
            progress.finish()
    report.seconds = time.monotonic() - start
    damage = damage or opened_damaged
    if damage:
        report.damage = damage
        raise PartialBagError(
            f'{damage}\nThe bag is damaged: processed the {report.frames} frames read before '
            f'the damage ({report.skipped} skipped) and wrote them to {output}', report)
    return report
