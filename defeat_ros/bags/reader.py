"""Open rosbag2 recordings (MCAP or SQLite 3) with rosbags; every read error is a BagError."""

from pathlib import Path
import sqlite3
import struct

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
    """Open a bag with rosbags, raising BagError naming it when it cannot be opened."""
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
