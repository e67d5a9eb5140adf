"""
Semantic classes: the Cityscapes ids label files hold, and the classes networks train on.

Label files (the synthetic world's ``semantic/`` PNGs, KITTI's semantic benchmark, a label
topic of a bag, label PNGs beside an image folder) hold Cityscapes *ids* per pixel (road 7,
car 26, sky 23, ...; 0 unlabelled), plus :data:`MOVING_CAR_ID` for cars that move
independently of the camera, which Cityscapes does not tell apart. Training samples and
networks use *train ids* 0..:data:`NUM_CLASSES` - 1: Cityscapes' 19 evaluation classes in
their usual order and the moving car last; every other id is :data:`IGNORE` (255: no label).
KITTI-STEP panoptic maps hold train ids already (their red channel).
"""

import numpy as np

IGNORE = 255
"""Train id of pixels without a usable label (void classes, unlabelled data)."""

MOVING_CAR_ID = 34
"""Label-file id of an independently moving car (one past Cityscapes' last id, 33)."""

CLASSES = (
    # (train id, label-file id, name, movable)
    (0, 7, 'road', False),
    (1, 8, 'sidewalk', False),
    (2, 11, 'building', False),
    (3, 12, 'wall', False),
    (4, 13, 'fence', False),
    (5, 17, 'pole', False),
    (6, 19, 'traffic light', False),
    (7, 20, 'traffic sign', False),
    (8, 21, 'vegetation', False),
    (9, 22, 'terrain', False),
    (10, 23, 'sky', False),
    (11, 24, 'person', True),
    (12, 25, 'rider', True),
    (13, 26, 'car', True),
    (14, 27, 'truck', True),
    (15, 28, 'bus', True),
    (16, 31, 'train', True),
    (17, 32, 'motorcycle', True),
    (18, 33, 'bicycle', True),
    (19, MOVING_CAR_ID, 'moving car', True),
)
"""Every training class; ``movable``: may move on its own (person, vehicles)."""

NUM_CLASSES = len(CLASSES)

CLASS_NAMES = tuple(name for _, _, name, _ in CLASSES)
"""Class names by train id."""

SKY = 10
"""Train id of the sky (infinitely far)."""

MOVABLE = tuple(train for train, _, _, movable in CLASSES if movable)
"""Train ids of classes that can move on their own."""

_TRAIN_ID_OF = np.full(256, IGNORE, dtype=np.uint8)
for _train, _label, _, _ in CLASSES:
    _TRAIN_ID_OF[_label] = _train


def train_ids(label_ids):
    """
    Map label-file ids to train ids.

    :param label_ids: integer array (any shape) of label-file ids 0..255.
    :return: uint8 array of the same shape: train ids, :data:`IGNORE` for other ids.
    """
    label_ids = np.asarray(label_ids)
    if label_ids.size and (label_ids.min() < 0 or label_ids.max() > 255):
        raise ValueError(f'label ids must lie in 0..255, got {label_ids.min()}..'
                         f'{label_ids.max()}')
    return _TRAIN_ID_OF[label_ids.astype(np.int64)]


def label_ids(train):
    """Inverse of :func:`train_ids`: uint8 label-file ids (0, unlabelled, for IGNORE)."""
    table = np.zeros(256, dtype=np.uint8)
    for train_id, label, _, _ in CLASSES:
        table[train_id] = label
    return table[np.asarray(train).astype(np.int64)]
