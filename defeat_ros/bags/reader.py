"""
Open rosbag2 recordings (MCAP or SQLite 3) with rosbags; every read error is a BagError.

:func:`open_bag` opens a bag whole; :func:`open_salvaging` also opens the intact start of MCAP
files rosbags cannot open (:mod:`defeat_ros.bags.salvage`). Either reader's messages are read
with :func:`read_raw` (serialised) or :func:`read_messages` (deserialised with the package's
typestore), which turn what a damaged bag raises into :class:`BagError`.
"""

from pathlib import Path
import sqlite3
import struct

from defeat_ros.bags.salvage import mcap_files, SalvageReader
from defeat_ros.messages.typestore import TYPESTORE
from rosbags.highlevel import AnyReader
from rosbags.highlevel.anyreader import AnyReaderError
from rosbags.rosbag2 import ReaderError
from rosbags.serde import SerdeError


READ_ERRORS = (AnyReaderError, ReaderError, SerdeError, sqlite3.Error, struct.error, EOFError,
               OSError, KeyError, IndexError, ValueError, AssertionError)
"""What reading a damaged bag raises inside rosbags and its storage libraries."""


class BagError(ValueError):
    """A bag that cannot be used: missing, damaged, or without the topics asked for."""


def open_bag(path):
    """
    Open a bag (directory, or a single .mcap/.db3 file) with rosbags and the package typestore.

    :return: the open AnyReader; close it when done.
    :raises BagError: naming the bag when it is missing or cannot be opened.
    """
    path = Path(path)
    if not path.exists():
        raise BagError(f'bag {path} does not exist')
    try:
        reader = AnyReader([path], default_typestore=TYPESTORE)
        reader.open()
    except READ_ERRORS as error:
        raise BagError(f'cannot open bag {path}: it is truncated, corrupt or not a rosbag2 '
                       f'recording ({type(error).__name__}: {error})') from error
    return reader


def open_salvaging(path):
    """
    Open a bag like :func:`open_bag`; MCAP files rosbags cannot open are salvaged from their start.

    :return: (reader, damage): damage says why the bag could not be opened whole ('' if it
        was); a salvaged reader raises BagError (through :func:`read_raw`) where the damage
        starts.
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


def read_raw(reader, connections, path, start=None, stop=None):
    """
    Yield (connection, log time ns, serialised bytes) of ``connections``, wrapping read errors.

    :raises BagError: naming ``path`` when the bag cannot be read.
    """
    try:
        iterator = reader.messages(connections=connections, start=start, stop=stop)
    except READ_ERRORS as error:
        raise BagError(f'cannot read bag {path} ({type(error).__name__}: {error})') from error
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except READ_ERRORS as error:
            raise BagError(f'cannot read bag {path}: it is truncated or corrupt '
                           f'({type(error).__name__}: {error})') from error
        yield item


def read_messages(reader, connections, path, start=None, stop=None):
    """
    Yield (connection, log time ns, message) of ``connections``, wrapping read errors.

    :raises BagError: naming ``path`` when the bag cannot be read or a message deserialised.
    """
    for connection, timestamp, raw in read_raw(reader, connections, path, start, stop):
        try:
            message = reader.deserialize(raw, connection.msgtype)
        except READ_ERRORS as error:
            raise BagError(f'cannot read bag {path}: it is truncated or corrupt '
                           f'({type(error).__name__}: {error})') from error
        yield connection, timestamp, message
