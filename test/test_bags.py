"""The bags package: open (and salvage), discover topics, write atomically, copy connections."""

from defeat_ros.bags.reader import BagError, open_bag, open_salvaging, read_messages, read_raw
from defeat_ros.bags.salvage import SalvageReader
from defeat_ros.bags.topics import find_image_topic
from defeat_ros.bags.writer import BAG_VERSION, copy_connection, create_bag
from defeat_ros.messages.builders import compressed_image_msg, image_msg
from defeat_ros.messages.typestore import COMPRESSED_IMAGE, header, IMAGE, msg, TYPESTORE
import numpy as np
import pytest
from rosbags.highlevel import AnyReader

RGB = np.random.default_rng(5).integers(0, 256, (4, 6, 3), dtype=np.uint8)
LARGE = np.random.default_rng(6).integers(0, 256, (200, 250, 3), dtype=np.uint8)
"""150 kB a frame: 40 frames fill several MCAP chunks."""
FRAMES = 40


def image_data(index, rgb=RGB):
    """Return a serialised rgb8 Image of frame ``index``."""
    return TYPESTORE.serialize_cdr(image_msg(rgb, header(10 ** 9 * (index + 1), 'cam')), IMAGE)


def write_frames(path, storage='mcap', frames=FRAMES, rgb=RGB):
    """Write ``frames`` Images on /camera/image_raw into a new bag; return its path."""
    with create_bag(path, storage) as writer:
        connection = writer.add_connection('/camera/image_raw', IMAGE, typestore=TYPESTORE)
        for index in range(frames):
            writer.write(connection, 10 ** 9 * (index + 1), image_data(index, rgb))
    return path


def hidden(folder):
    """Return the names in ``folder`` that start with a dot (unfinished bags)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith('.'))


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_a_new_bag_appears_only_when_closed(tmp_path, storage):
    path = tmp_path / 'out' / 'bag'
    writer = create_bag(path, storage)
    connection = writer.add_connection('/camera/image_raw', IMAGE, typestore=TYPESTORE)
    writer.write(connection, 10 ** 9, image_data(0))
    assert not path.exists()
    assert hidden(path.parent)[0].startswith('.bag.') and hidden(path.parent)[0].endswith(
        '.partial')
    writer.close()
    assert hidden(path.parent) == [] and f'version: {BAG_VERSION}' in (
        path / 'metadata.yaml').read_text()
    reader = open_bag(path)
    try:
        read = list(read_messages(reader, reader.connections, path))
    finally:
        reader.close()
    assert [t for _, t, _ in read] == [10 ** 9]
    assert np.array_equal(read[0][2].data.reshape(4, 6, 3), RGB)


def test_a_failed_or_aborted_bag_leaves_nothing(tmp_path):
    path = tmp_path / 'bag'
    with pytest.raises(RuntimeError, match='stop'):
        with create_bag(path) as writer:
            writer.add_connection('/camera/image_raw', IMAGE, typestore=TYPESTORE)
            raise RuntimeError('stop')
    assert list(tmp_path.iterdir()) == []
    create_bag(path).abort()
    assert list(tmp_path.iterdir()) == []


def test_existing_paths_and_unknown_storages_are_refused(tmp_path):
    write_frames(tmp_path / 'bag', frames=1)
    with pytest.raises(FileExistsError, match='exists already'):
        create_bag(tmp_path / 'bag')
    with pytest.raises(ValueError, match="storage must be one of .*got 'rosbag1'"):
        create_bag(tmp_path / 'other', 'rosbag1')
    late = create_bag(tmp_path / 'late')
    (tmp_path / 'late').mkdir()
    with pytest.raises(FileExistsError, match='appeared while writing'):
        late.close()
    assert hidden(tmp_path) == [] and list((tmp_path / 'late').iterdir()) == []


def test_copied_connections_keep_type_definition_and_qos(tmp_path):
    source = write_frames(tmp_path / 'source', 'sqlite3', frames=2)
    with AnyReader([source], default_typestore=TYPESTORE) as reader:
        with create_bag(tmp_path / 'copy') as writer:
            copies = {c.id: copy_connection(writer, c, TYPESTORE) for c in reader.connections}
            for connection, stamp, raw in reader.messages():
                writer.write(copies[connection.id], stamp, raw)
        originals = list(reader.connections)
    with AnyReader([tmp_path / 'copy']) as copied:
        assert [(c.topic, c.msgtype) for c in copied.connections] == [
            (c.topic, c.msgtype) for c in originals]
        assert copied.connections[0].msgdef.data  # from the typestore: SQLite 3 had none
        assert copied.connections[0].ext.offered_qos_profiles == \
            originals[0].ext.offered_qos_profiles
        assert copied.message_count == 2
    unknown = originals[0]._replace(msgtype='nobody_msgs/msg/Nothing',
                                    msgdef=originals[0].msgdef._replace(data=''))
    with create_bag(tmp_path / 'unknown') as writer:
        assert copy_connection(writer, unknown, TYPESTORE) is None


def test_open_errors_are_bag_errors_naming_the_bag(tmp_path):
    with pytest.raises(BagError, match='does not exist'):
        open_bag(tmp_path / 'missing')
    with pytest.raises(BagError, match='does not exist'):
        open_salvaging(tmp_path / 'missing')
    garbage = tmp_path / 'garbage.mcap'
    garbage.write_bytes(b'\x00' * 64)
    with pytest.raises(BagError, match=f'cannot open bag {garbage}.*no intact message found '
                       'before the damage .*no MCAP magic'):
        open_salvaging(garbage)
    database = tmp_path / 'garbage.db3'
    database.write_bytes(b'\x00' * 64)
    with pytest.raises(BagError, match=f'cannot open bag {database}: it is truncated') as error:
        open_salvaging(database)
    assert 'salvage' not in str(error.value)  # SQLite 3 files are not salvaged
    assert issubclass(BagError, ValueError)


def test_an_intact_bag_opens_whole(tmp_path):
    path = write_frames(tmp_path / 'bag', frames=3)
    reader, damage = open_salvaging(path)
    try:
        assert damage == '' and isinstance(reader, AnyReader)
        assert len(list(read_raw(reader, reader.connections, path))) == 3
    finally:
        reader.close()


def test_a_cut_mcap_is_salvaged_up_to_the_damage(tmp_path):
    path = write_frames(tmp_path / 'bag', rgb=LARGE)
    data_file = next(path.glob('*.mcap'))
    data_file.write_bytes(data_file.read_bytes()[:len(data_file.read_bytes()) // 2])
    with pytest.raises(BagError, match='cannot open bag'):
        open_bag(path)
    reader, damage = open_salvaging(path)
    assert isinstance(reader, SalvageReader) and f'cannot open bag {path}' in damage
    read = []
    with pytest.raises(BagError, match=f'cannot read bag {path}: it is truncated or corrupt'):
        for _, stamp, message in read_messages(reader, reader.connections, path):
            read.append((stamp, message.header.stamp.sec))
    assert 0 < len(read) < FRAMES
    assert read == [(10 ** 9 * (i + 1), i + 1) for i in range(len(read))]


def test_image_topic_skips_compressed_depth_by_format(tmp_path):
    path = tmp_path / 'bag'
    depth = msg(COMPRESSED_IMAGE, header=header(10 ** 9, 'cam'),
                format='16UC1; compressedDepth png', data=np.zeros(8, np.uint8))
    colour = compressed_image_msg(RGB, header(10 ** 9, 'cam'), 90)
    with create_bag(path) as writer:
        for topic, message in (('/a/depth/compressed', depth), ('/b/image/compressed', colour)):
            connection = writer.add_connection(topic, COMPRESSED_IMAGE, typestore=TYPESTORE)
            writer.write(connection, 10 ** 9,
                         TYPESTORE.serialize_cdr(message, COMPRESSED_IMAGE))
    reader = open_bag(path)
    try:
        assert find_image_topic(reader, path) == '/b/image/compressed'
    finally:
        reader.close()
