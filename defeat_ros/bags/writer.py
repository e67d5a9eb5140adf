"""
Write rosbag2 recordings atomically: a new bag appears at its path only once it is complete.

:func:`create_bag` returns a :class:`BagWriter`, used like rosbags' ``Writer`` (``add_connection``,
``write``, ``close``, or a ``with`` block), that writes into a hidden directory
``.<name>.*.partial`` beside the bag's path and renames the bag to the path when it is closed
without error; after an error (or :meth:`BagWriter.abort`) nothing is left behind. A writer
killed outright leaves only its ``.partial`` directory. :func:`copy_connection` adds a
connection that copies one of an input bag's.
"""

from contextlib import suppress
from pathlib import Path
import shutil
import uuid

from rosbags.rosbag2 import StoragePlugin, Writer


STORAGES = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
"""rosbag2 storage plugins by their ``ros2 bag`` names."""


BAG_VERSION = 8
"""rosbag2 metadata version (rosbags writes 8 or 9; Humble cannot parse version 9's QoS)."""


class BagWriter:
    """
    A new bag being written beside ``path`` (see the module docstring); use :func:`create_bag`.

    :param path: the bag directory to create.
    :param storage: ``'mcap'`` or ``'sqlite3'``.
    """

    def __init__(self, path, storage='mcap'):
        """Check the path and storage and open the bag in a hidden temporary directory."""
        if storage not in STORAGES:
            raise ValueError(f'storage must be one of {tuple(STORAGES)}, got {storage!r}')
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f'{self.path} exists already, not overwriting')
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.temporary = self.path.with_name(f'.{self.path.name}.{uuid.uuid4().hex[:8]}.partial')
        self.temporary.mkdir()  # permissions from the umask, unlike tempfile's private folders
        """The hidden directory the bag is written in."""
        try:
            self.writer = Writer(self.temporary / self.path.name, version=BAG_VERSION,
                                 storage_plugin=STORAGES[storage])
            self.writer.open()
        except BaseException:
            shutil.rmtree(self.temporary, ignore_errors=True)
            raise

    def add_connection(self, topic, msgtype, **kwargs):
        """Add a connection, with the arguments of rosbags' ``Writer.add_connection``."""
        return self.writer.add_connection(topic, msgtype, **kwargs)

    def write(self, connection, timestamp, data):
        """Write serialised ``data`` on ``connection`` at ``timestamp`` (ns)."""
        self.writer.write(connection, timestamp, data)

    def close(self):
        """
        Finish the bag and move it to its path.

        :raises FileExistsError: when something appeared at the path meanwhile (the bag is
            deleted).
        """
        try:
            self.writer.close()
            if self.path.exists():
                raise FileExistsError(f'{self.path} appeared while writing, not overwriting')
            (self.temporary / self.path.name).rename(self.path)
        finally:
            shutil.rmtree(self.temporary, ignore_errors=True)

    def abort(self):
        """Stop writing and delete the unfinished bag."""
        with suppress(Exception):  # a failing close must not hide the failure that led here
            self.writer.abort()
        shutil.rmtree(self.temporary, ignore_errors=True)

    def __enter__(self):
        """Return the writer for a ``with`` block."""
        return self

    def __exit__(self, kind, error, traceback):
        """Close the bag when the block ends normally, abort it after an error."""
        if kind is None:
            self.close()
        else:
            self.abort()


def create_bag(path, storage='mcap'):
    """
    Start writing a new bag at ``path``, atomically (see the module docstring).

    :param path: the bag directory to create.
    :param storage: ``'mcap'`` or ``'sqlite3'``.
    :return: the open :class:`BagWriter`; close it, or use it in a ``with`` block.
    :raises FileExistsError: when ``path`` exists.
    :raises ValueError: for an unknown storage.
    """
    return BagWriter(path, storage)


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
