"""
Read the intact beginning of an MCAP rosbag2 recording that rosbags cannot open.

A recorder that is killed, a full disk or an interrupted copy leave an MCAP file without its
summary and footer (rosbags then reports 'File end magic is invalid'), or with a damaged
record. :class:`SalvageReader` scans such files from the start, record by record, like a
streaming MCAP reader, and offers what it finds through the part of rosbags' ``AnyReader``
interface the bag tools use (``connections``, ``messages``, ``deserialize``, ``close``):
messages come in file order (recording order), and :meth:`SalvageReader.messages` raises
:class:`~rosbags.rosbag2.ReaderError` where the damage starts, after the last intact message.

Messages are kept in whole chunks only: a chunk cut short is lost, since its records cannot
be trusted. Messages are deserialised with the ROS 2 Humble typestore of
:mod:`defeat_ros.messages.typestore` (sensor_msgs and nav_msgs are the same in Jazzy); other
types stay raw bytes, with the definitions the file's schemas give. SQLite 3 files are not
salvaged: a truncated SQLite database does not open at all.
"""

from io import BytesIO
from pathlib import Path, PurePath

from defeat_ros.messages.typestore import TYPESTORE
from rosbags.interfaces import Connection, ConnectionExtRosbag2
from rosbags.rosbag2 import ReaderError
from rosbags.rosbag2.storage_mcap import (decompress, deserialize_qqqi, deserialize_uint16,
                                          deserialize_uint64, get_msgdef, get_qos, read_bytes,
                                          read_exact, read_string, Schema)
import yaml

MAGIC = b'\x89MCAP0\r\n'
"""The first (and last) eight bytes of an MCAP file."""

OP_HEADER, OP_FOOTER, OP_SCHEMA, OP_CHANNEL, OP_MESSAGE, OP_CHUNK, OP_DATA_END = (
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0F)
"""MCAP record opcodes this reader interprets (the others are skipped)."""


def mcap_files(path):
    """
    Return the MCAP files of a bag: the file itself, or those its directory lists or holds.

    A directory's ``metadata.yaml`` names its files when it can be read; without it (a
    recording that never finished), every ``*.mcap`` in the directory, in name order.
    """
    path = Path(path)
    if path.is_file():
        return [path] if path.suffix == '.mcap' else []
    try:
        metadata = yaml.safe_load((path / 'metadata.yaml').read_text())
        names = metadata['rosbag2_bagfile_information']['relative_file_paths']
        files = [path / PurePath(name).name for name in names]
        if files and all(f.is_file() for f in files):
            return [f for f in files if f.suffix == '.mcap']
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        pass
    return sorted(path.glob('*.mcap'))


class SalvageReader:
    """
    The intact records of one bag's MCAP files (see the module docstring).

    :param path: the bag directory or an ``.mcap`` file.
    :raises ReaderError: when there is no MCAP file or the first one has no valid header.
    """

    def __init__(self, path):
        """Scan the files once for their schemas, channels and message counts."""
        self.path = Path(path)
        self.files = mcap_files(self.path)
        if not self.files:
            raise ReaderError(f'{self.path} holds no MCAP file to salvage')
        self.connections = []
        self.damage = ''
        """Where and how the readable part ends ('' when every file is intact)."""
        self.readable = 0
        """Messages before the damage."""
        self._channels = {}
        counts = {}
        for _, channel_id, _, _ in self._records(count_only=True):
            counts[channel_id] = counts.get(channel_id, 0) + 1
            self.readable += 1
        self.connections = [c._replace(msgcount=counts.get(key, 0))
                            for key, c in self._channels.items()]

    def _records(self, count_only=False):
        """Yield (file number, channel id, log time, data) of every intact message."""
        self._channels.clear()
        schemas = {}
        for number, file in enumerate(self.files):
            self._record_start = 0
            with file.open('rb') as stream:
                try:
                    yield from self._file_records(number, stream, schemas, count_only)
                except Exception as error:  # decompressors raise their own types on bad data
                    self.damage = (f'{file} is damaged from byte {self._record_start} on '
                                   f'({error})')
                    return
        self.damage = ''

    def _file_records(self, number, stream, schemas, count_only):
        """Yield the messages of one file until its data end, footer or damage."""
        if stream.read(8) != MAGIC:
            raise ReaderError('not an MCAP file (no MCAP magic)')
        top = stream
        while True:
            if stream is top:
                self._record_start = top.tell()
            opcode = stream.read(1)
            if not opcode:
                if stream is top:
                    raise ReaderError('the file ends without a footer: it was cut short')
                stream = top  # a chunk's records are done
                continue
            opcode = opcode[0]
            length = deserialize_uint64(read_exact(stream, 8))[0]
            if opcode == OP_MESSAGE:
                record = read_exact(stream, length)
                channel_id = deserialize_uint16(record[:2])[0]
                log_time = deserialize_uint64(record[6:14])[0]
                if channel_id not in self._channels:
                    raise ReaderError(f'a message on unknown channel {channel_id}')
                yield number, channel_id, log_time, None if count_only else record[22:]
            elif opcode == OP_CHUNK:
                if stream is not top:
                    raise ReaderError('a chunk inside a chunk')
                record = BytesIO(read_exact(stream, length))
                _, _, size, crc = deserialize_qqqi(read_exact(record, 28))
                compression = read_string(record)
                compressed = read_exact(record, deserialize_uint64(read_exact(record, 8))[0])
                stream = BytesIO(decompress(compressed, compression, size, crc))
            elif opcode == OP_SCHEMA:
                record = BytesIO(read_exact(stream, length))
                key = deserialize_uint16(read_exact(record, 2))[0]
                schemas[key] = Schema(key, read_string(record), read_string(record),
                                      read_string(record))
            elif opcode == OP_CHANNEL:
                self._add_channel(BytesIO(read_exact(stream, length)), schemas)
            elif opcode in (OP_FOOTER, OP_DATA_END) and stream is top:
                return
            else:
                read_exact(stream, length)

    def _add_channel(self, record, schemas):
        """Register the connection of a channel record (once per channel id)."""
        key = deserialize_uint16(read_exact(record, 2))[0]
        schema = schemas.get(deserialize_uint16(read_exact(record, 2))[0])
        topic, encoding = read_string(record), read_string(record)
        metadata = read_bytes(record)
        if key not in self._channels:
            msgtype = schema.name if schema else '__schemaless__'
            self._channels[key] = Connection(
                key, topic, msgtype, get_msgdef(schema), '', 0,
                ConnectionExtRosbag2(encoding, get_qos(metadata)), self)

    def messages(self, connections=None, start=None, stop=None):
        """
        Yield (connection, log time ns, data) of the intact messages, in file order.

        :raises ReaderError: after the last intact message, when the files are damaged.
        """
        wanted = {c.id for c in (self.connections if connections is None else connections)}
        by_id = {c.id: c for c in self.connections}
        start = -1 if start is None else start
        stop = 2 ** 64 if stop is None else stop
        for _, channel_id, log_time, data in self._records():
            if channel_id in wanted and start <= log_time < stop:
                yield by_id[channel_id], log_time, data
        if self.damage:
            raise ReaderError(self.damage)

    def deserialize(self, data, msgtype):
        """Deserialise CDR bytes of a type of the ROS 2 typestore."""
        return TYPESTORE.deserialize_cdr(data, msgtype)

    def close(self):
        """Nothing stays open between calls."""
