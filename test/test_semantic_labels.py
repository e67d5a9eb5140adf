"""Per-pixel classes: rendered by the street world, written, read back by every dataset."""

from dataclasses import replace

import cv2
from defeat_ros.bags.reader import open_bag, read_messages
from defeat_ros.data.image_folder import ImageFolderDataset, sequence_folders
from defeat_ros.data.image_ops import resize_labels
from defeat_ros.data.kitti import KittiDataset
from defeat_ros.data.kitti_writer import images_uint8, write_kitti_raw
from defeat_ros.data.rosbag_sequence import RosbagDataset
from defeat_ros.data.sample import SampleConfig
from defeat_ros.data.sequence_bag import LABEL_TOPIC, write_bag
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.data.synthetic import SyntheticDataset
from defeat_ros.messages.typestore import header_ns
from defeat_ros.semantics import IGNORE, label_ids, MOVING_CAR_ID, NUM_CLASSES, train_ids
import numpy as np
import pytest
import torch
from torch.utils.data import ConcatDataset, DataLoader

FRAMES, HEIGHT, WIDTH = 6, 64, 96
PLAIN = {'height': HEIGHT, 'width': WIDTH, 'augment': {'enabled': False}}
WORLD_IDS = {7, 8, 11, 17, 23, 26, MOVING_CAR_ID}
"""Label-file ids the street world renders: road, sidewalk, building, pole, sky, cars."""


@pytest.fixture(scope='module')
def drive():
    """Render a tiny street drive with its classes."""
    return render_sequence(WorldConfig(width=WIDTH, height=HEIGHT, frames=FRAMES, seed=3),
                           workers=2)


def expected_train_ids(drive, index):
    """Return the train ids (H x W uint8 tensor) of frame ``index`` of the drive."""
    return torch.from_numpy(train_ids(drive.labels[index, 0].numpy()))


def check_labels(dataset, drive):
    """Every sample's labels are the train ids of its target frame (native size, no flip)."""
    assert len(dataset) > 0
    for index in range(len(dataset)):
        sample = dataset[index]
        target = int(dataset.target_frame[index])
        assert sample['labels'].dtype == torch.uint8
        assert sample['labels'].shape == (HEIGHT, WIDTH)
        assert torch.equal(sample['labels'], expected_train_ids(drive, target)), index


def test_train_ids_map_label_file_ids():
    ids = np.array([[MOVING_CAR_ID, 0, 7, 26], [23, 8, 1, 255]], dtype=np.uint8)
    assert train_ids(ids).tolist() == [[19, IGNORE, 0, 13], [10, 1, IGNORE, IGNORE]]
    assert train_ids(ids).dtype == np.uint8
    every = np.arange(NUM_CLASSES)
    assert np.array_equal(train_ids(label_ids(every)), every)
    assert label_ids(IGNORE) == 0


# The renderer --------------------------------------------------------------------------


def test_rendered_classes_follow_the_hits(drive):
    labels = drive.labels
    assert labels.dtype == torch.uint8 and labels.shape == (FRAMES, 1, HEIGHT, WIDTH)
    assert set(torch.unique(labels).tolist()) <= WORLD_IDS
    # Sky exactly where nothing is hit, moving cars exactly where the moving mask is set
    # (both come from the same hit: surface SKY, surface >= moving_start).
    assert torch.equal(labels == 23, torch.isinf(drive.depths))
    assert torch.equal(labels == MOVING_CAR_ID, drive.moving)
    # The bottom centre sees the road a few metres ahead (the camera drives in its lane).
    assert (labels[:, 0, -1, WIDTH // 2 - 2:WIDTH // 2 + 2] == 7).all()
    assert (labels[:, 0, 0] != 7).all()  # the top row is above the horizon
    for present in (8, 11, 23, 26):
        assert (labels == present).any(), present


def test_night_drive_has_the_day_classes(drive):
    config = WorldConfig(width=WIDTH, height=HEIGHT, frames=FRAMES, seed=3, night=True)
    assert torch.equal(render_sequence(config, workers=2).labels, drive.labels)


# Writers and readers ---------------------------------------------------------------------


def test_kitti_raw_round_trip(drive, tmp_path):
    folder = write_kitti_raw(drive, tmp_path, date='2011_09_26', drive=1)
    for index in range(FRAMES):
        png = cv2.imread(str(folder / 'semantic' / 'image_02' / f'{index:010d}.png'),
                         cv2.IMREAD_UNCHANGED)
        assert png.dtype == np.uint8 and png.shape == (HEIGHT, WIDTH)
        assert np.array_equal(png, drive.labels[index, 0].numpy())
    dataset = KittiDataset({'root': str(tmp_path)}, PLAIN)
    assert dataset.has_labels
    check_labels(dataset, drive)
    (folder / 'semantic' / 'image_02' / f'{1:010d}.png').unlink()  # a frame without labels
    dataset = KittiDataset({'root': str(tmp_path)}, PLAIN)
    sample = dataset[list(dataset.target_frame).index(1)]
    assert (sample['labels'] == IGNORE).all()


def test_kitti_drive_without_labels_gives_ignore(drive, tmp_path):
    folder = write_kitti_raw(replace(drive, labels=None), tmp_path, date='2011_09_26', drive=2)
    assert not (folder / 'semantic').exists()
    dataset = KittiDataset({'root': str(tmp_path)}, PLAIN)
    assert not dataset.has_labels
    for index in range(len(dataset)):
        labels = dataset[index]['labels']
        assert labels.dtype == torch.uint8 and (labels == IGNORE).all()


def test_bag_round_trip(drive, tmp_path):
    path = write_bag(drive, tmp_path / 'bag', labels=True, depth=True)
    topic = f'/camera/{LABEL_TOPIC}'
    reader = open_bag(path)
    try:
        connections = [c for c in reader.connections if c.topic in (topic, '/camera/image_raw')]
        messages = {}
        for connection, log_time, message in read_messages(reader, connections, path):
            messages.setdefault(connection.topic, []).append((log_time, message))
    finally:
        reader.close()
    labels, images = messages[topic], messages['/camera/image_raw']
    assert len(labels) == len(images) == FRAMES
    for index, ((log_time, label), (image_time, image)) in enumerate(zip(labels, images)):
        assert log_time == image_time and header_ns(label) == header_ns(image)
        assert label.header.frame_id == image.header.frame_id
        assert label.encoding == '8UC1' and (label.height, label.width) == (HEIGHT, WIDTH)
        ids = np.asarray(label.data).reshape(HEIGHT, WIDTH)
        assert np.array_equal(ids, drive.labels[index, 0].numpy())
    # The image topic is still found automatically: labels are no colour image.
    dataset = RosbagDataset({'paths': [str(path)]}, PLAIN)
    assert dataset.has_labels and dataset.sources[0].label_topic == topic
    check_labels(dataset, drive)
    dataset = RosbagDataset({'paths': [str(path)], 'label_topic': 'none'}, PLAIN)
    assert all((dataset[i]['labels'] == IGNORE).all() for i in range(len(dataset)))


def test_bag_without_label_topic_gives_ignore(drive, tmp_path):
    path = write_bag(drive, tmp_path / 'bag')
    dataset = RosbagDataset({'paths': [str(path)]}, PLAIN)
    assert not dataset.has_labels
    assert (dataset[0]['labels'] == IGNORE).all()
    with pytest.raises(ValueError, match='no labels'):
        write_bag(replace(drive, labels=None), tmp_path / 'refused', labels=True)


def write_folder(drive, folder, labels_folder=None):
    """Write the drive's frames as PNGs with a normalised calibration (and label PNGs)."""
    folder.mkdir(parents=True)
    k = drive.k_norm
    (folder / 'calib.yaml').write_text(
        f'fx: {float(k[0, 0])}\nfy: {float(k[1, 1])}\ncx: {float(k[0, 2])}\n'
        f'cy: {float(k[1, 2])}\nnormalised: true\n')
    for index, image in enumerate(images_uint8(drive.images)):
        cv2.imwrite(str(folder / f'frame{index}.png'), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if labels_folder is not None:
        labels_folder.mkdir(parents=True)
        for index in range(FRAMES):
            cv2.imwrite(str(labels_folder / f'frame{index}.png'), drive.labels[index, 0].numpy())


def test_image_folder_round_trip(drive, tmp_path):
    root = tmp_path / 'root'
    write_folder(drive, root / 'seq', root / 'seq_labels')
    config = {'root': str(root)}
    assert sequence_folders(ImageFolderDataset.Config.from_dict(config)) == [root / 'seq']
    dataset = ImageFolderDataset(config, PLAIN)
    assert dataset.has_labels
    check_labels(dataset, drive)
    # A label folder named in the config: root's subfolder named as the sequence.
    named = tmp_path / 'named'
    write_folder(drive, tmp_path / 'other' / 'seq', named / 'seq')
    check_labels(ImageFolderDataset({'root': str(tmp_path / 'other'), 'labels': str(named)},
                                    PLAIN), drive)
    # Labels whose aspect ratio is not the frame's are refused.
    cv2.imwrite(str(root / 'seq_labels' / 'frame1.png'), np.zeros((HEIGHT, HEIGHT), np.uint8))
    dataset = ImageFolderDataset(config, PLAIN)
    with pytest.raises(ValueError, match='labels are'):
        dataset[list(dataset.target_frame).index(1)]


def test_image_folder_without_labels_gives_ignore_and_batches_mix(drive, tmp_path):
    write_folder(drive, tmp_path / 'plain')
    folder = ImageFolderDataset({'root': str(tmp_path / 'plain')}, PLAIN)
    assert not folder.has_labels
    assert (folder[0]['labels'] == IGNORE).all()
    synthetic = SyntheticDataset.from_sequences([drive], PLAIN)
    mixed = ConcatDataset([folder, synthetic])
    batch = next(iter(DataLoader(mixed, batch_size=len(mixed))))
    assert batch['labels'].dtype == torch.uint8
    assert batch['labels'].shape == (len(mixed), HEIGHT, WIDTH)
    assert (batch['labels'][:len(folder)] == IGNORE).all()
    assert (batch['labels'][len(folder):] != IGNORE).any()


# Resizing and flips --------------------------------------------------------------------


def test_labels_resize_with_nearest_neighbour(drive):
    half = SampleConfig(height=HEIGHT // 2, width=WIDTH // 2, augment={'enabled': False})
    dataset = SyntheticDataset.from_sequences([drive], half)
    valid = set(train_ids(np.array(sorted(WORLD_IDS))).tolist())
    for index in range(len(dataset)):
        labels = dataset[index]['labels']
        assert labels.shape == (HEIGHT // 2, WIDTH // 2)
        assert set(torch.unique(labels).tolist()) <= valid  # no blended ids
        source = drive.labels[int(dataset.target_frame[index]), 0].numpy()
        # Each output pixel is the input pixel under its centre: (2 i + 1, 2 j + 1).
        assert np.array_equal(labels.numpy(), train_ids(source[1::2, 1::2]))
    assert np.array_equal(resize_labels(source, HEIGHT, WIDTH), source)


def test_labels_stay_with_the_target_when_flipped(drive):
    flipping = {'height': HEIGHT, 'width': WIDTH,
                'augment': {'flip_probability': 1.0, 'jitter_probability': 0.0}}
    flipped = SyntheticDataset.from_sequences([drive], flipping)
    plain = SyntheticDataset.from_sequences([drive], PLAIN)
    for index in range(len(plain)):
        sample, reference = flipped[index], plain[index]
        assert bool(sample['flipped'])
        assert torch.equal(sample['target_aug'], torch.flip(sample['target'], dims=[-1]))
        # Labels are a loss target, like depth: aligned with target, never flipped.
        assert torch.equal(sample['target'], reference['target'])
        assert torch.equal(sample['labels'], reference['labels'])
        assert torch.equal(sample['depth'], reference['depth'])
        target = int(plain.target_frame[index])
        assert torch.equal(sample['labels'], expected_train_ids(drive, target))
        # The street is not mirror-symmetric: the flipped labels would be wrong.
        assert not torch.equal(sample['labels'], torch.flip(sample['labels'], dims=[-1]))
