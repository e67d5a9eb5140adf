"""
Where process-bag writes its outputs: the node's relative topics under the camera namespace.

The camera namespace is the image topic's (``/camera/image_raw`` and
``/camera/image_raw/compressed``: ``/camera``), so the output topics are those ``defeat_node``
publishes when it runs in that namespace; the ``namespace`` option overrides it.
"""

from defeat_ros.camera.frame_step import OUTPUT_TOPICS
from defeat_ros.camera.process_config import TOPIC_KEYS


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
