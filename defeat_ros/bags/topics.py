"""Find a bag's topics: the colour image topic, its CameraInfo, and the vehicle's speed."""

from defeat_ros.bags.reader import BagError, read_messages
from defeat_ros.messages.decode import is_compressed_depth, SPEED_TYPES
from defeat_ros.messages.image_encoding import eight_bit_encoding
from defeat_ros.messages.typestore import CAMERA_INFO, COMPRESSED_IMAGE, IMAGE


IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)
"""Message types an image topic may have."""


def describe_topics(reader):
    """Return 'topic (type), ...' of every topic of an open bag, sorted."""
    topics = sorted({(c.topic, c.msgtype) for c in reader.connections})
    return ', '.join(f'{topic} ({msgtype})' for topic, msgtype in topics) or 'no topics'


def topic_connections(reader, path, topic, types, role):
    """
    Return the connections of ``topic`` in an open bag, checking that it has one of ``types``.

    :param path: the bag, for messages.
    :param role: what the topic is for ('image', 'camera info', ...), for messages.
    :raises BagError: when the topic is missing (listing the bag's topics) or of another type.
    """
    connections = [c for c in reader.connections if c.topic == topic]
    if not connections:
        raise BagError(f'bag {path} has no {role} topic {topic}; it has: '
                       f'{describe_topics(reader)}')
    wrong = sorted({c.msgtype for c in connections} - set(types))
    if wrong:
        raise BagError(f'bag {path}: {role} topic {topic} has type {wrong[0]}, '
                       f'expected {" or ".join(types)}')
    return connections


def first_messages(reader, path, msgtype):
    """Yield (topic, its first message or None) of every topic of ``msgtype``, sorted."""
    for topic in sorted({c.topic for c in reader.connections if c.msgtype == msgtype}):
        connections = [c for c in reader.connections if c.topic == topic]
        first = next(read_messages(reader, connections, path), None)
        yield topic, None if first is None else first[2]


def find_image_topic(reader, path, topic=''):
    """
    Return the image topic of an open bag: ``topic`` (checked), or the only colour image topic.

    Without ``topic``: the one Image topic whose first message has a colour encoding (depth
    images do not count), failing that the one CompressedImage topic whose first message is
    not compressed depth (:func:`~defeat_ros.messages.decode.is_compressed_depth`).

    :raises BagError: when the topic is missing or of another type, or when there is not
        exactly one candidate (the message lists the bag's topics).
    """
    if topic:
        topic_connections(reader, path, topic, IMAGE_TYPES, 'image')
        return topic
    colour = [candidate for candidate, first in first_messages(reader, path, IMAGE)
              if first is not None and eight_bit_encoding(first.encoding)]
    compressed = [candidate for candidate, first
                  in first_messages(reader, path, COMPRESSED_IMAGE)
                  if first is not None and not is_compressed_depth(first.format)]
    candidates = colour or compressed
    if len(candidates) != 1:
        found = ', '.join(candidates) if candidates else 'none'
        raise BagError(f'bag {path}: set image_topic, there is not exactly one colour '
                       f'image topic (found: {found}); the bag has: '
                       f'{describe_topics(reader)}')
    return candidates[0]


def find_camera_info_topic(reader, path, image_topic, topic='', optional=False):
    """
    Return the CameraInfo topic of ``image_topic``: ``topic`` (checked), or the one there is.

    Without ``topic``: the only CameraInfo topic, or among several the one beside the image
    topic (``<namespace>/camera_info``, also for ``<namespace>/image_raw/compressed``).

    :param optional: return None instead of failing when the bag has no CameraInfo topic.
    :raises BagError: when there is not exactly one candidate, listing the bag's topics.
    """
    if topic:
        topic_connections(reader, path, topic, (CAMERA_INFO,), 'camera info')
        return topic
    topics = sorted({c.topic for c in reader.connections if c.msgtype == CAMERA_INFO})
    namespace = image_topic.rsplit('/', 1)[0]
    beside = [t for t in topics if t.rsplit('/', 1)[0] in
              (namespace, namespace.rsplit('/', 1)[0])]
    if len(topics) == 1:
        return topics[0]
    if len(beside) == 1:
        return beside[0]
    if not topics and optional:
        return None
    found = ', '.join(topics) if topics else 'none'
    raise BagError(f'bag {path}: set camera_info_topic (or intrinsics), there '
                   f'is not exactly one CameraInfo topic for {image_topic} '
                   f'(found: {found}); the bag has: {describe_topics(reader)}')


def is_ground_truth_topic(topic):
    """Whether a topic name has a ``ground_truth`` component (a simulator's, never a sensor)."""
    return 'ground_truth' in topic.split('/')


def find_speed_topic(reader, path, topic=''):
    """
    Return the topic of the vehicle's speed in an open bag, or None for no speed.

    ``topic`` 'none': None. Another ``topic`` is checked to exist with one of
    :data:`~defeat_ros.messages.decode.SPEED_TYPES`. Without ``topic``: the one topic of those
    types that has messages and no ``ground_truth`` name component; None when there is none.

    :raises BagError: when a named topic is missing or of another type, or when several
        topics qualify (the message lists them and names ``speed_topic``).
    """
    if topic == 'none':
        return None
    if topic:
        topic_connections(reader, path, topic, SPEED_TYPES, 'speed')
        return topic
    candidates = sorted(candidate for msgtype in SPEED_TYPES
                        for candidate, first in first_messages(reader, path, msgtype)
                        if first is not None and not is_ground_truth_topic(candidate))
    if len(candidates) > 1:
        raise BagError(f'bag {path}: set speed_topic (or speed_topic: none), there are several '
                       f'speed topics ({", ".join(candidates)}); the bag has: '
                       f'{describe_topics(reader)}')
    return candidates[0] if candidates else None
