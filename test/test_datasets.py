"""Every dataset loader on tiny fixtures in the real formats: frames, intrinsics, depth, errors."""

from dataclasses import replace
from datetime import datetime, timezone
import json
from pathlib import Path
import shutil
import struct

import cv2
from data_layouts import mosaic, write_robotcar_run
from defeat_ros.bags.reader import BagError
from defeat_ros.bags.writer import BAG_VERSION
from defeat_ros.data.augment import (augment, Augmentation, AugmentConfig, draw_augmentation,
                                     jitter, unflip_images, unflip_poses)
from defeat_ros.data.datasets import make_dataset
from defeat_ros.data.frame_windows import valid_targets
from defeat_ros.data.image_folder import ImageFolderDataset, read_calibration
from defeat_ros.data.image_ops import Crop, resize_depth
from defeat_ros.data.kitti import KittiDataset
from defeat_ros.data.kitti_calib import projection_intrinsics, read_calib_file
from defeat_ros.data.kitti_split import (build_split, main as split_main, read_split,
                                         SplitEntry, write_split)
from defeat_ros.data.kitti_writer import images_uint8, write_kitti_raw
from defeat_ros.data.rectify import Rectifier
from defeat_ros.data.robotcar import camera_model_name, RobotCarDataset
from defeat_ros.data.rosbag_sequence import image_array, RosbagDataset
from defeat_ros.data.sample import SampleConfig
from defeat_ros.data.sequence_bag import write_bag
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.data.synthetic import SyntheticConfig, SyntheticDataset
from defeat_ros.geometry import normalise_intrinsics, pixel_intrinsics_opencv
from defeat_ros.messages.builders import camera_info_msg, image_msg
from defeat_ros.messages.typestore import CAMERA_INFO, header, IMAGE, msg, TYPESTORE
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
import torch
from torch.utils.data import DataLoader
import yaml

FRAMES, HEIGHT, WIDTH = 8, 64, 96
PLAIN = {'height': HEIGHT, 'width': WIDTH, 'augment': {'enabled': False}}
"""Sample config at the native size without augmentation: loaded frames are the written ones."""
SHARED = Path(__file__).resolve().parents[2] / 'shared' / 'data'
BAG_START = 1_700_000_000.0


@pytest.fixture(scope='module')
def drive():
    """Render a tiny street drive, 8 frames of 96 x 64 pixels, principal point off the centre."""
    return render_sequence(WorldConfig(width=WIDTH, height=HEIGHT, frames=FRAMES, seed=3,
                                       cx=0.47, cy=0.52), workers=2)


@pytest.fixture(scope='module')
def expected(drive):
    """Quantise the drive's frames as the file formats store them (F x 3 x H x W floats)."""
    return torch.from_numpy(images_uint8(drive.images)).permute(0, 3, 1, 2).float() / 255.0


@pytest.fixture(scope='module')
def kitti_root(drive, tmp_path_factory):
    """Write the drive as KITTI raw drive 1 of 2011_09_26; return the root."""
    root = tmp_path_factory.mktemp('kitti')
    write_kitti_raw(drive, root, date='2011_09_26', drive=1)
    return root


@pytest.fixture(scope='module', params=['mcap', 'sqlite3'])
def bag(request, drive, tmp_path_factory):
    """Record the drive (raw and compressed images, camera info, depth) in each storage."""
    return write_bag(drive, tmp_path_factory.mktemp(request.param) / 'drive',
                     storage=request.param, image_transport='both', depth=True,
                     start_time=BAG_START)


def identify(frame, expected):
    """Return the index of the expected frame closest to ``frame`` and the mean difference."""
    errors = (expected - frame.unsqueeze(0)).abs().mean(dim=(1, 2, 3))
    return int(errors.argmin()), float(errors.min())


def check_windows(dataset, expected, tolerance=0.0, first_frames=None):
    """
    Check every sample's target and sources are frames t and t + offsets (by content).

    :param first_frames: per source, the index in ``expected`` of its frame 0 (default: 0).
    """
    offsets = dataset.config.offsets
    for index in range(len(dataset)):
        sample = dataset[index]
        first = first_frames[dataset.source_index[index]] if first_frames else 0
        target = first + int(dataset.target_frame[index])
        frames = [sample['target']] + list(sample['sources'])
        for frame, want in zip(frames, [target] + [target + o for o in offsets]):
            found, error = identify(frame, expected)
            assert found == want and error <= tolerance, (index, found, want, error)
        assert sample['offsets'].tolist() == list(offsets)


# Samples, windows and augmentations ------------------------------------------------------


def test_sample_config_checks_offsets_and_reads_augment_mapping():
    config = SampleConfig.from_dict({'offsets': [-2, 1], 'augment': {'hue': 0.05}})
    assert config.offsets == [-2, 1] and config.augment.hue == 0.05
    for offsets in ([0, 1], [1, 1], [0.5], [True]):
        with pytest.raises(ValueError, match='offsets'):
            SampleConfig(offsets=offsets)
    with pytest.raises(ValueError, match='unknown AugmentConfig fields'):
        SampleConfig.from_dict({'augment': {'flip': 0.5}})
    assert SampleConfig.from_dict(config.to_dict()) == config


def test_valid_targets_need_present_neighbours_without_gaps():
    assert valid_targets(6, [-1, 1]).tolist() == [1, 2, 3, 4]
    assert valid_targets(6, [-2, 1]).tolist() == [2, 3, 4]
    present = np.array([1, 1, 1, 0, 1, 1, 1], bool)
    assert valid_targets(7, [-1, 1], present).tolist() == [1, 5]
    stamps = np.array([0.0, 0.1, 0.2, 0.3, 1.3, 1.4, 1.5])
    assert valid_targets(7, [-1, 1], stamps=stamps, max_gap_s=0.5).tolist() == [1, 2, 5]
    assert valid_targets(7, [1], stamps=stamps, max_gap_s=0.5).tolist() == [0, 1, 2, 4, 5]
    assert valid_targets(7, [-1, 1], stamps=stamps).tolist() == [1, 2, 3, 4, 5]


def test_jitter_is_shared_by_the_frames_of_a_sample(expected):
    config = AugmentConfig(jitter_probability=1.0, flip_probability=0.0)
    augmentation = draw_augmentation(config, torch.Generator().manual_seed(4))
    assert augmentation.jitters and augmentation.hue != 0.0 and not augmentation.flip
    same = expected[2].expand(3, -1, -1, -1)
    jittered, k_aug = augment(same, torch.eye(3), augmentation)
    assert (jittered - same).abs().max() > 0.02
    assert torch.equal(jittered[0], jittered[1]) and torch.equal(jittered[0], jittered[2])
    assert torch.equal(k_aug, torch.eye(3))
    assert draw_augmentation(AugmentConfig(enabled=False), torch.Generator()) == Augmentation()


def test_dataset_jitters_network_inputs_only(kitti_root, expected):
    sample = dict(PLAIN, augment={'jitter_probability': 1.0, 'flip_probability': 0.0})
    dataset = KittiDataset({'root': str(kitti_root)}, sample)
    item = dataset[2]
    target = int(dataset.target_frame[2])
    assert torch.equal(item['target'], expected[target])
    assert torch.equal(item['sources'], expected[[target - 1, target + 1]])
    assert (item['target_aug'] - item['target']).abs().mean() > 0.005
    augmentation = draw_augmentation(dataset.config.augment, dataset.generator(2))
    frames = torch.cat([item['target'][None], item['sources']])
    redone = jitter(frames, augmentation)
    assert torch.allclose(redone[0], item['target_aug'], atol=1e-6)
    assert torch.allclose(redone[1:], item['sources_aug'], atol=1e-6)
    assert not item['flipped'] and torch.equal(item['k_norm_aug'], item['k_norm'])


def test_flip_mirrors_network_inputs_and_their_principal_point(kitti_root, expected, drive):
    sample = dict(PLAIN, augment={'jitter_probability': 0.0, 'flip_probability': 1.0})
    item = KittiDataset({'root': str(kitti_root)}, sample)[0]
    assert item['flipped']
    assert torch.equal(item['target'], expected[1])
    assert torch.equal(item['target_aug'], torch.flip(expected[1], dims=[-1]))
    assert torch.equal(item['sources_aug'], torch.flip(expected[[0, 2]], dims=[-1]))
    assert torch.allclose(item['k_norm'], drive.k_norm, atol=1e-6)
    k_aug = item['k_norm_aug']
    assert torch.isclose(k_aug[0, 2], 1.0 - drive.k_norm[0, 2], atol=1e-6)
    assert torch.allclose(k_aug[[0, 1, 1], [0, 1, 2]], drive.k_norm[[0, 1, 1], [0, 1, 2]])
    # A point at u in the image appears at W - u in the flipped image, seen as (-X, Y, Z).
    point = torch.tensor([1.3, -0.4, 7.0], dtype=torch.float64)
    mirrored = point * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    u = (item['k_norm'].double() @ point / point[2])[0] * WIDTH
    u_flipped = (k_aug.double() @ mirrored / mirrored[2])[0] * WIDTH
    assert torch.isclose(u_flipped, WIDTH - u, atol=1e-4)


def test_unflip_restores_predictions_and_poses():
    images = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    flipped = torch.tensor([True, False])
    predicted = torch.stack([torch.flip(images[0], dims=[-1]), images[1]])
    assert torch.equal(unflip_images(predicted, flipped), images)
    c, s = np.cos(0.3), np.sin(0.3)
    # The true motion: 0.3 rad about y, then (0.4, -0.1, 1.5) m.
    pose = torch.tensor([[c, 0, s, 0.4], [0, 1, 0, -0.1], [-s, 0, c, 1.5], [0, 0, 0, 1]],
                        dtype=torch.float32)
    # The same motion seen in the flipped images, written out: it turns the other way
    # (-0.3 rad about y) and moves the other way along x; y and z are unchanged.
    seen_in_flip = torch.tensor([[c, 0, -s, -0.4], [0, 1, 0, -0.1], [s, 0, c, 1.5],
                                 [0, 0, 0, 1]], dtype=torch.float32)
    point = np.array([2.0, 0.5, 6.0, 1.0])
    moved = pose.double().numpy() @ point
    mirrored = seen_in_flip.double().numpy() @ (point * [-1, 1, 1, 1])
    np.testing.assert_allclose(mirrored, moved * [-1, 1, 1, 1], atol=1e-6)  # the truth holds
    restored = unflip_poses(torch.stack([seen_in_flip, seen_in_flip]), flipped)
    assert torch.allclose(restored[0], pose, atol=1e-6)
    assert torch.equal(restored[1], seen_in_flip)


def test_augmentation_is_deterministic_per_epoch_and_worker_independent(drive):
    sample = {'height': 32, 'width': 48, 'seed': 7}
    dataset = SyntheticDataset.from_sequences([drive], sample)
    first = dataset[3]['target_aug']
    assert torch.equal(dataset[3]['target_aug'], first)
    flips = [bool(dataset[i]['flipped']) for i in range(len(dataset))]
    dataset.set_epoch(1)
    assert [bool(dataset[i]['flipped']) for i in range(len(dataset))] != flips or \
        not torch.equal(dataset[3]['target_aug'], first)
    dataset.set_epoch(0)
    serial = next(iter(DataLoader(dataset, batch_size=6, shuffle=False)))
    parallel = next(iter(DataLoader(dataset, batch_size=6, shuffle=False, num_workers=2)))
    assert torch.equal(serial['target_aug'], parallel['target_aug'])
    assert torch.equal(serial['flipped'], parallel['flipped'])


def test_resize_depth_keeps_sparse_points_and_crop_moves_the_principal_point():
    depth = np.zeros((8, 8), np.float32)
    depth[1, 1], depth[0, 0], depth[5, 6], depth[7, 7] = 4.0, 6.0, float('inf'), 9.0
    small = resize_depth(depth, 4, 4)
    assert small[0, 0] == 4.0 and small[3, 3] == 9.0 and small[2, 3] == 0.0
    assert np.count_nonzero(small) == 2
    assert resize_depth(depth, 16, 16)[15, 15] == 9.0
    k_norm = normalise_intrinsics(50.0, 60.0, 47.5, 31.5, 96, 64)
    cropped = Crop(top=4, bottom=12, left=8, right=0).intrinsics(k_norm, 64, 96)
    assert torch.allclose(cropped, normalise_intrinsics(50.0, 60.0, 39.5, 27.5, 88, 48))


# KITTI -----------------------------------------------------------------------------------


def test_kitti_samples_frames_intrinsics_and_stamps(kitti_root, drive, expected):
    dataset = KittiDataset({'root': str(kitti_root)}, PLAIN)
    assert len(dataset) == FRAMES - 2 and dataset.target_frame.tolist() == list(range(1, 7))
    item = dataset[0]
    assert item['target'].shape == (3, HEIGHT, WIDTH)
    assert item['sources'].shape == (2, 3, HEIGHT, WIDTH)
    assert item['name'] == '2011_09_26/2011_09_26_drive_0001_sync 0000000001 l'
    assert torch.allclose(item['k_norm'], drive.k_norm, atol=1e-6)
    noon = datetime(2011, 9, 26, 12, tzinfo=timezone.utc).timestamp()
    assert abs(float(item['stamp']) - (noon + float(drive.stamps[1]))) < 1e-6
    assert 'depth' not in item
    check_windows(dataset, expected)


def test_kitti_offsets_pick_the_right_frames(kitti_root, expected):
    dataset = KittiDataset({'root': str(kitti_root)}, dict(PLAIN, offsets=[-2, 1, 3]))
    assert dataset.target_frame.tolist() == [2, 3, 4]
    check_windows(dataset, expected)
    targets_only = KittiDataset({'root': str(kitti_root)}, dict(PLAIN, offsets=[]))
    assert targets_only.target_frame.tolist() == list(range(FRAMES))
    assert targets_only[0]['sources'].shape == (0, 3, HEIGHT, WIDTH)
    check_windows(targets_only, expected)


def test_kitti_ground_truth_depth_round_trips(kitti_root, drive):
    dataset = KittiDataset({'root': str(kitti_root), 'depth': True}, PLAIN)
    for index in (0, 3):
        depth = dataset[index]['depth'][0]
        truth = drive.depths[int(dataset.target_frame[index]), 0]
        valid = torch.isfinite(truth) & (truth <= 255.0)
        assert depth.shape == (HEIGHT, WIDTH) and valid.any() and (~valid).any()
        assert (depth[valid] - truth[valid]).abs().max() <= 0.5 / 256 + 1e-6
        assert torch.all(depth[~valid] == 0)
    half = KittiDataset({'root': str(kitti_root), 'depth': True},
                        dict(PLAIN, height=32, width=48))[0]['depth']
    assert half.shape == (1, 32, 48) and (half > 0).float().mean() > 0.3


def test_kitti_depth_benchmark_folder_beside_the_raw_data(drive, tmp_path):
    raw, annotated = tmp_path / 'raw', tmp_path / 'data_depth_annotated'
    drive_dir = write_kitti_raw(drive, raw)
    (annotated / 'train' / drive_dir.name).mkdir(parents=True)
    shutil.move(drive_dir / 'proj_depth', annotated / 'train' / drive_dir.name / 'proj_depth')
    config = {'root': str(raw), 'depth': True, 'depth_root': str(annotated)}
    depth = KittiDataset(config, PLAIN)[0]['depth']
    truth = drive.depths[1, 0]
    valid = torch.isfinite(truth) & (truth <= 255.0)
    assert (depth[0][valid] - truth[valid]).abs().max() <= 0.5 / 256 + 1e-6
    missing = KittiDataset({'root': str(raw), 'depth': True}, PLAIN)[0]['depth']
    assert torch.all(missing == 0)


def test_kitti_split_files_build_write_read_and_drop_missing_frames(kitti_root, drive, tmp_path,
                                                                    expected):
    entries = build_split(kitti_root)
    assert [entry.line() for entry in entries] == [
        f'2011_09_26/2011_09_26_drive_0001_sync {frame:010d} l' for frame in range(1, 7)]
    path = write_split(tmp_path / 'train_files.txt', entries)
    assert read_split(path) == entries
    assert split_main([str(kitti_root), str(tmp_path / 'cli.txt'), '--offsets', '-2', '1']) == 0
    assert [e.frame for e in read_split(tmp_path / 'cli.txt')] == [2, 3, 4, 5, 6]
    # Monodepth2's lines: unpadded frame numbers; missing neighbours; a drive not downloaded.
    path.write_text('# a comment\n'
                    '2011_09_26/2011_09_26_drive_0001_sync 0000000005 l\n\n'
                    '2011_09_26/2011_09_26_drive_0001_sync 0000000000 l\n'
                    '2011_09_26/2011_09_26_drive_0001_sync 7\n'
                    '2011_09_26/2011_09_26_drive_0001_sync 3 l\n'
                    '2011_09_30/2011_09_30_drive_0028_sync 0000000005 r\n')
    dataset = KittiDataset({'root': str(kitti_root), 'split': str(path)}, PLAIN)
    assert dataset.target_frame.tolist() == [5, 3]  # the split's order
    assert [dataset[i]['name'].split()[1] for i in range(2)] == ['0000000005', '0000000003']
    assert len(dataset.dropped) == 3
    assert dataset.dropped[0].startswith('2011_09_26/2011_09_26_drive_0001_sync 0000000000 l')
    check_windows(dataset, expected)
    with pytest.raises(ValueError, match='expected "<folder> <frame> <l|r>"'):
        path.write_text('2011_09_26/2011_09_26_drive_0001_sync five l\n')
        read_split(path)


def test_kitti_missing_frame_drops_its_windows(drive, tmp_path, expected):
    root = tmp_path / 'kitti'
    drive_dir = write_kitti_raw(drive, root, image_format='jpg')
    (drive_dir / 'image_02' / 'data' / '0000000004.jpg').unlink()
    dataset = KittiDataset({'root': str(root)}, PLAIN)
    assert dataset.target_frame.tolist() == [1, 2, 6]
    check_windows(dataset, expected, tolerance=0.03)
    assert [e.frame for e in build_split(root, offsets=[-1])] == [1, 2, 3, 6, 7]
    with pytest.raises(ValueError, match='no usable KITTI frames'):
        KittiDataset({'root': str(tmp_path / 'nothing')}, PLAIN)


def test_kitti_odometry_layout_with_real_calibration(tmp_path):
    frames = SHARED / 'kitti_object_frames'
    if not frames.is_dir():
        pytest.skip(f'shared KITTI frames not found at {frames}')
    for number in range(3):
        calib = read_calib_file(frames / 'calib' / f'{number:06d}.txt')
        assert all(calib[f'P{camera}'].shape == (12,) for camera in range(4))
        assert calib['R0_rect'].shape == (9,) and calib['Tr_velo_to_cam'].shape == (12,)
    sequence = tmp_path / 'sequences' / '04'
    (sequence / 'image_2').mkdir(parents=True)
    for number in range(3):
        shutil.copy(frames / 'image_2' / '000000.png', sequence / 'image_2' / f'{number:06d}.png')
    shutil.copy(frames / 'calib' / '000000.txt', sequence / 'calib.txt')
    (tmp_path / 'odom.txt').write_text('4 1 l\n')
    dataset = KittiDataset({'root': str(tmp_path), 'split': str(tmp_path / 'odom.txt')},
                           {'height': 96, 'width': 320})
    item = dataset[0]
    height, width = cv2.imread(str(frames / 'image_2' / '000000.png')).shape[:2]
    p2 = read_calib_file(frames / 'calib' / '000000.txt')['P2'].reshape(3, 4)
    assert (width, height) == (1224, 370)
    truth = projection_intrinsics(p2, width, height)
    assert torch.allclose(item['k_norm'], truth)
    assert abs(float(item['k_norm'][0, 0]) - 707.0493 / 1224) < 1e-6
    assert abs(float(item['k_norm'][0, 2]) - (604.0814 + 0.5) / 1224) < 1e-6
    assert item['name'] == '4 1 l' and item['target'].shape == (3, 96, 320)


# rosbag2 ---------------------------------------------------------------------------------


def test_bag_frames_intrinsics_depth_and_stamps(bag, drive, expected):
    dataset = RosbagDataset({'paths': [str(bag)], 'depth_topic': '/camera/depth/ground_truth'},
                            PLAIN)
    source = dataset.sources[0]
    assert source.image_topic == '/camera/image_raw'
    assert dataset.target_frame.tolist() == list(range(1, 7))
    item = dataset[2]
    assert torch.allclose(item['k_norm'], drive.k_norm, atol=1e-6)
    assert abs(float(item['stamp']) - (BAG_START + float(drive.stamps[3]))) < 1e-6
    truth = drive.depths[3, 0]
    valid = torch.isfinite(truth)
    assert torch.allclose(item['depth'][0][valid], truth[valid])
    assert torch.all(item['depth'][0][~valid] == 0)
    check_windows(dataset, expected)


def test_bag_compressed_topic_and_lazy_reading(bag, expected):
    compressed = RosbagDataset({'paths': [str(bag)], 'image_topic':
                                '/camera/image_raw/compressed'}, PLAIN)
    check_windows(compressed, expected, tolerance=0.03)
    lazy = RosbagDataset({'paths': [str(bag)], 'preload': False}, dict(PLAIN, offsets=[-2, 1]))
    assert lazy.sources[0].frames is None
    check_windows(lazy, expected)
    small = RosbagDataset({'paths': [str(bag)]}, dict(PLAIN, height=32, width=48))
    assert small.sources[0].frames.shape == (FRAMES, 32, 48, 3)
    loaded = next(iter(DataLoader(lazy, batch_size=3, num_workers=2)))
    assert loaded['target'].shape == (3, 3, HEIGHT, WIDTH)
    assert torch.equal(loaded['target'][0], lazy[0]['target'])


def test_bag_gap_breaks_windows(drive, tmp_path, expected):
    stamps = torch.tensor([0.0, 0.1, 0.2, 0.3, 1.3, 1.4, 1.5, 1.6], dtype=torch.float64)
    path = write_bag(replace(drive, stamps=stamps), tmp_path / 'gap')
    dataset = RosbagDataset({'paths': [str(path)]}, PLAIN)
    assert dataset.target_frame.tolist() == [1, 2, 5, 6]
    check_windows(dataset, expected)
    unchecked = RosbagDataset({'paths': [str(path)], 'max_gap_s': -1.0}, PLAIN)
    assert unchecked.target_frame.tolist() == list(range(1, 7))
    wide = RosbagDataset({'paths': [str(path)], 'max_gap_s': 1.5}, PLAIN)
    assert len(wide) == 6


def test_bag_topic_errors_list_the_topics(bag, drive, tmp_path):
    with pytest.raises(BagError, match='has no image topic /front/image') as error:
        RosbagDataset({'paths': [str(bag)], 'image_topic': '/front/image'}, PLAIN)
    for topic, msgtype in (('/camera/image_raw', IMAGE), ('/camera/camera_info', CAMERA_INFO),
                           ('/ground_truth/odometry', 'nav_msgs/msg/Odometry')):
        assert f'{topic} ({msgtype})' in str(error.value)
    with pytest.raises(BagError, match='image topic /camera/camera_info has type sensor_msgs/'
                                       'msg/CameraInfo, expected sensor_msgs/msg/Image or'):
        RosbagDataset({'paths': [str(bag)], 'image_topic': '/camera/camera_info'}, PLAIN)
    with pytest.raises(BagError, match='camera info topic /camera/image_raw has type'):
        RosbagDataset({'paths': [str(bag)], 'camera_info_topic': '/camera/image_raw'}, PLAIN)
    bare = write_bag(drive, tmp_path / 'bare', camera_info=False, odometry=False)
    with pytest.raises(BagError, match=r'not exactly one CameraInfo .*found: none.*'
                                       r'/camera/image_raw \(sensor_msgs/msg/Image\)'):
        RosbagDataset({'paths': [str(bare)]}, PLAIN)
    fallback = RosbagDataset({'paths': [str(bare)], 'intrinsics': drive.k_norm[[0, 1, 0, 1],
                                                                               [0, 1, 2, 2]]
                              .tolist()}, PLAIN)
    assert torch.allclose(fallback[0]['k_norm'], drive.k_norm, atol=1e-6)
    two = tmp_path / 'two'
    with Writer(two, version=BAG_VERSION) as writer:
        for topic in ('/left/image_raw', '/right/image_raw'):
            connection = writer.add_connection(topic, IMAGE, typestore=TYPESTORE)
            message = image_msg(np.zeros((4, 6, 3), np.uint8), header(10, 'cam'))
            writer.write(connection, 10, TYPESTORE.serialize_cdr(message, IMAGE))
    with pytest.raises(BagError, match='found: /left/image_raw, /right/image_raw'):
        RosbagDataset({'paths': [str(two)]}, PLAIN)


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_damaged_bags_name_the_file(drive, tmp_path, storage):
    path = write_bag(drive, tmp_path / 'bag', storage=storage)
    data_file = next(p for p in path.iterdir() if p.suffix in ('.mcap', '.db3'))
    data_file.write_bytes(data_file.read_bytes()[:len(data_file.read_bytes()) // 2])
    with pytest.raises(BagError, match='truncated') as error:
        RosbagDataset({'paths': [str(path)]}, PLAIN)
    assert str(path) in str(error.value)
    with pytest.raises(BagError, match='does not exist'):
        RosbagDataset({'paths': [str(tmp_path / 'missing')]}, PLAIN)


def mcap_message_records(data):
    """Return the offsets of the message records inside the (uncompressed) chunks of an MCAP."""
    offsets, position = [], 8  # after the magic
    while position < len(data) - 8:
        opcode, length = data[position], struct.unpack_from('<Q', data, position + 1)[0]
        if opcode == 0x06:  # chunk: start, end, size, crc, compression, records
            compression = struct.unpack_from('<I', data, position + 9 + 28)[0]
            records = position + 9 + 32 + compression + 8
            end = records + struct.unpack_from('<Q', data, records - 8)[0]
            while records < end:
                if data[records] == 0x05:
                    offsets.append(records)
                records += 9 + struct.unpack_from('<Q', data, records + 1)[0]
        position += 9 + length
    return offsets


@pytest.mark.parametrize('damage', ['opcode', 'length'])
def test_damaged_mcap_records_are_noticed(drive, tmp_path, damage):
    path = write_bag(drive, tmp_path / 'bag', storage='mcap', odometry=False,
                     wheel_odometry=False)
    data_file = path / 'bag.mcap'
    data = bytearray(data_file.read_bytes())
    first_image = mcap_message_records(data)[0]  # frame 0's image, written first
    if damage == 'opcode':  # an unknown record: rosbags skips it silently
        data[first_image] = 0x7E
    else:
        data[first_image + 1:first_image + 9] = struct.pack('<Q', 10 ** 12)
    data_file.write_bytes(bytes(data))
    expected = 'read 7 of the 8 messages' if damage == 'opcode' else 'Truncated record'
    with pytest.raises(BagError, match='truncated or corrupt') as error:
        RosbagDataset({'paths': [str(path)]}, PLAIN)
    assert str(path) in str(error.value) and expected in str(error.value)


def test_bag_stamps_going_backwards_are_rejected(drive, tmp_path):
    path = tmp_path / 'backwards'
    images = images_uint8(drive.images)
    header_times = [0.0, 0.1, 0.2, 0.15, 0.3]
    with Writer(path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP) as writer:
        image = writer.add_connection('/camera/image_raw', IMAGE, typestore=TYPESTORE)
        info = writer.add_connection('/camera/camera_info', CAMERA_INFO, typestore=TYPESTORE)
        for index, seconds in enumerate(header_times):
            log_time = 10 ** 9 + index * 10 ** 8
            hdr = header(10 ** 9 + round(seconds * 1e9), 'camera_optical')
            writer.write(image, log_time,
                         TYPESTORE.serialize_cdr(image_msg(images[index], hdr), IMAGE))
            writer.write(info, log_time, TYPESTORE.serialize_cdr(
                camera_info_msg(drive.k_norm, HEIGHT, WIDTH, hdr), CAMERA_INFO))
    with pytest.raises(ValueError, match='timestamps go backwards or repeat at frame 3') as error:
        RosbagDataset({'paths': [str(path)]}, PLAIN)
    assert str(path) in str(error.value) and '/camera/image_raw' in str(error.value)
    by_log_time = RosbagDataset({'paths': [str(path)], 'stamp_source': 'log'}, PLAIN)
    assert len(by_log_time) == 3


def encoded_image(array, encoding, step_padding=0, bigendian=False):
    """Build a sensor_msgs/Image of ``array`` (H x W or H x W x C) in ``encoding``."""
    height, width = array.shape[:2]
    data = array.astype('>u2' if bigendian else array.dtype).reshape(height, -1).view(np.uint8)
    data = np.concatenate([data, np.full((height, step_padding), 7, np.uint8)], axis=1)
    return msg(IMAGE, header=header(0, 'cam'), height=height, width=width, encoding=encoding,
               is_bigendian=int(bigendian), step=data.shape[1], data=data.reshape(-1))


def test_bag_image_encodings_decode_to_rgb(expected):
    rgb = (expected[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(image_array(encoded_image(rgb, 'rgb8', 5), 'x'), rgb)
    assert np.array_equal(image_array(encoded_image(rgb[..., ::-1].copy(), 'bgr8'), 'x'), rgb)
    grey = rgb[..., 1].copy()
    assert np.array_equal(image_array(encoded_image(grey, 'mono8', 3), 'x'),
                          np.repeat(grey[..., None], 3, axis=2))
    wide = grey.astype(np.uint16) * 256 + 77
    assert np.array_equal(image_array(encoded_image(wide, 'mono16', 0, True), 'x')[..., 0], grey)
    flat = np.zeros((8, 8, 3), np.uint8) + np.array([200, 100, 30], np.uint8)
    decoded = image_array(encoded_image(mosaic(flat, 'rggb'), 'bayer_rggb8'), 'x')
    assert np.array_equal(decoded[2:6, 2:6], flat[2:6, 2:6])
    with pytest.raises(BagError, match="unsupported image encoding '8UC2'"):
        image_array(encoded_image(grey, '8UC2'), 'bag x, topic y')


def test_rectifier_undistorts_to_the_projection_camera():
    k = [60.0, 0.0, 47.5, 0.0, 62.0, 31.5, 0.0, 0.0, 1.0]
    d = [-0.3, 0.1, 0.001, -0.002, 0.0]
    p = [55.0, 0.0, 48.0, 0.0, 0.0, 57.0, 32.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    rectifier = Rectifier(96, 64, k, d, 'plumb_bob', [], p)
    assert torch.allclose(rectifier.k_norm, normalise_intrinsics(55.0, 57.0, 48.0, 32.0, 96, 64))
    columns, rows = np.meshgrid(np.arange(96, dtype=np.float32), np.arange(64, dtype=np.float32))
    coordinates = np.stack([columns, rows, np.zeros_like(rows)], axis=2)
    rectified = rectifier.apply(coordinates)
    u, v = 60.0, 20.0  # a rectified pixel: where does it come from in the distorted image?
    ray = np.array([(u - 48.0) / 55.0, (v - 32.0) / 57.0, 1.0])
    source, _ = cv2.projectPoints(ray[None], np.zeros(3), np.zeros(3),
                                  np.array(k).reshape(3, 3), np.array(d))
    assert np.allclose(rectified[int(v), int(u), :2], source.reshape(2), atol=0.02)
    assert Rectifier(96, 64, k).identity


# RobotCar --------------------------------------------------------------------------------


@pytest.fixture(scope='module')
def robotcar(drive, tmp_path_factory):
    """Write a RobotCar-style run: Bayer (gbrg) stereo centre frames at 16 Hz with a 1 s gap."""
    times = 1418132462000000 + np.arange(FRAMES) * 62500
    times[5:] += 1000000
    folder, models = write_robotcar_run(drive, tmp_path_factory.mktemp('robotcar'), times)
    return folder, models, times


def test_robotcar_bayer_frames_intrinsics_and_gap(robotcar, drive, expected):
    folder, models, times = robotcar
    dataset = RobotCarDataset({'folders': [str(folder)], 'models_dir': str(models)}, PLAIN)
    assert dataset.sources[0].maps is not None  # raw Bayer frames: undistorted under 'auto'
    assert torch.allclose(dataset[0]['k_norm'], drive.k_norm, atol=1e-6)
    assert dataset.target_frame.tolist() == [1, 2, 3, 6]
    item = dataset[0]
    assert item['name'] == f'{folder} {times[1]}'
    assert abs(float(item['stamp']) - times[1] / 1e6) < 1e-6
    check_windows(dataset, expected, tolerance=0.06)
    unchecked = RobotCarDataset({'folders': [str(folder)], 'models_dir': str(models),
                                 'max_gap_s': 0.0}, PLAIN)
    assert len(unchecked) == FRAMES - 2


def test_robotcar_demosaics_with_the_sdk_stereo_pattern(tmp_path):
    folder = tmp_path / 'run' / 'stereo' / 'centre'
    folder.mkdir(parents=True)
    flat = np.zeros((16, 24, 3), np.uint8) + np.array([210, 120, 40], np.uint8)
    for number in range(3):
        cv2.imwrite(str(folder / f'{1000000 + number * 62500}.png'), mosaic(flat, 'gbrg'))
    (tmp_path / 'stereo_narrow_left.txt').write_text('20 20 11.5 7.5\n')
    config = {'folders': [str(folder)], 'models_dir': str(tmp_path), 'undistort': 'never'}
    item = RobotCarDataset(config, {'height': 16, 'width': 24})[0]
    colour = (item['target'][:, 4:12, 4:20] * 255).round()
    assert torch.equal(colour, torch.tensor([210.0, 120.0, 40.0]).view(3, 1, 1).expand_as(colour))
    with pytest.raises(FileNotFoundError, match='distortion_lut.bin'):
        RobotCarDataset(dict(config, undistort='auto'), {'height': 16, 'width': 24})


def test_robotcar_undistortion_table_and_crop(robotcar, drive, tmp_path):
    folder, models, _ = robotcar
    shifted = tmp_path / 'models'
    shutil.copytree(models, shifted)
    table = np.fromfile(models / 'stereo_narrow_left_distortion_lut.bin').reshape(2, -1)
    table[0] += 2.0  # every undistorted pixel samples the distorted image 2 px to its right
    table.tofile(shifted / 'stereo_narrow_left_distortion_lut.bin')
    plain = RobotCarDataset({'folders': [str(folder)], 'models_dir': str(models),
                             'undistort': 'never'}, PLAIN)[0]['target']
    moved = RobotCarDataset({'folders': [str(folder)], 'models_dir': str(shifted)},
                            PLAIN)[0]['target']
    assert torch.allclose(moved[..., :-2], plain[..., 2:], atol=1 / 255)
    assert torch.all(moved[..., -1] == 0)
    cropped = RobotCarDataset({'folders': [str(folder)], 'models_dir': str(models),
                               'crop': [0, 16, 8, 0]}, {'height': 48, 'width': 88,
                                                        'augment': {'enabled': False}})[0]
    fx, fy, cx, cy = pixel_intrinsics_opencv(drive.k_norm, HEIGHT, WIDTH)
    assert torch.allclose(cropped['k_norm'],
                          normalise_intrinsics(fx, fy, cx - 8, cy, WIDTH - 8, HEIGHT - 16),
                          atol=1e-6)
    assert torch.allclose(cropped['target'], plain[:, :48, 8:], atol=1e-6)


def test_robotcar_camera_models_follow_the_sdk():
    assert camera_model_name('/data/2014-12-09-13-21-02/stereo/centre') == 'stereo_narrow_left'
    assert camera_model_name('/data/run/stereo/left') == 'stereo_wide_left'
    assert camera_model_name('/data/run/stereo/right/') == 'stereo_wide_right'
    assert camera_model_name('/data/run/mono_rear') == 'mono_rear'
    with pytest.raises(ValueError, match='set camera_model'):
        camera_model_name('/data/run/front_camera')


# Image folders ---------------------------------------------------------------------------


def write_frames(folder, images, names):
    """Write RGB uint8 frames as PNG files with the given names."""
    folder.mkdir(parents=True, exist_ok=True)
    for image, name in zip(images, names):
        cv2.imwrite(str(folder / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def test_image_folder_sequences_in_natural_order(drive, expected, tmp_path):
    images = images_uint8(drive.images)
    write_frames(tmp_path / 'a', images[:5], [f'frame{n}.png' for n in (1, 2, 9, 10, 11)])
    write_frames(tmp_path / 'b', images[5:], [f'{n:04d}.jpg' for n in range(3)])
    fx, fy, cx, cy = pixel_intrinsics_opencv(drive.k_norm, HEIGHT, WIDTH)
    (tmp_path / 'calib.yaml').write_text(yaml.safe_dump(
        {'fx': fx, 'fy': fy, 'cx': cx, 'cy': cy, 'width': WIDTH, 'height': HEIGHT}))
    dataset = ImageFolderDataset({'root': str(tmp_path)}, PLAIN)
    assert [s.name for s in dataset.sources] == [str(tmp_path / 'a'), str(tmp_path / 'b')]
    assert dataset.target_frame.tolist() == [1, 2, 3, 1]
    assert dataset[2]['name'] == str(tmp_path / 'a' / 'frame10.png')
    assert torch.allclose(dataset[0]['k_norm'], drive.k_norm, atol=1e-6)
    check_windows(dataset, expected, tolerance=0.03, first_frames=[0, 5])
    only_b = ImageFolderDataset({'root': str(tmp_path), 'sequences': ['b']}, PLAIN)
    assert len(only_b) == 1


def test_image_folder_calibration_formats(drive, tmp_path):
    fx, fy, cx, cy = pixel_intrinsics_opencv(drive.k_norm, HEIGHT, WIDTH)
    truth = drive.k_norm
    (tmp_path / 'norm.json').write_text(json.dumps(
        {'fx': 0.58, 'fy': 1.92, 'cx': 0.47, 'cy': 0.52, 'normalised': True}))
    assert torch.allclose(read_calibration(tmp_path / 'norm.json').k_norm, truth)
    (tmp_path / 'matrix.json').write_text(json.dumps(truth.tolist()))
    assert torch.allclose(read_calibration(tmp_path / 'matrix.json').k_norm, truth)
    ros = {'image_width': WIDTH, 'image_height': HEIGHT, 'camera_name': 'cam',
           'camera_matrix': {'rows': 3, 'cols': 3, 'data': [fx, 0, cx, 0, fy, cy, 0, 0, 1]},
           'distortion_model': 'plumb_bob',
           'distortion_coefficients': {'rows': 1, 'cols': 5, 'data': [0, 0, 0, 0, 0]},
           'rectification_matrix': {'rows': 3, 'cols': 3, 'data': [1, 0, 0, 0, 1, 0, 0, 0, 1]},
           'projection_matrix': {'rows': 3, 'cols': 4,
                                 'data': [fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0]}}
    (tmp_path / 'camera_info.yaml').write_text(yaml.safe_dump(ros))
    calibration = read_calibration(tmp_path / 'camera_info.yaml')
    assert torch.allclose(calibration.k_norm, truth, atol=1e-6) and calibration.rectifier.identity
    (tmp_path / 'bad.yaml').write_text('fx: 1\nfy: 2\n')
    with pytest.raises(ValueError, match=r"bad.yaml: missing \['cx', 'cy'\]"):
        read_calibration(tmp_path / 'bad.yaml')
    images = images_uint8(drive.images)[:3]
    write_frames(tmp_path / 'seq', images, ['0.png', '1.png', '2.png'])
    (tmp_path / 'seq' / 'calib.json').write_text(json.dumps(
        {'fx': fx * 2, 'fy': fy * 2, 'cx': cx, 'cy': cy, 'width': WIDTH * 2, 'height': HEIGHT}))
    with pytest.raises(ValueError, match=r'is 96x64, but .*calib.json calibrates 192x64'):
        ImageFolderDataset({'root': str(tmp_path / 'seq')}, PLAIN)


def test_image_folder_on_a_real_frame_pair():
    folder = SHARED / 'manydepth_pair'
    if not folder.is_dir():
        pytest.skip(f'shared frame pair not found at {folder}')
    config = {'root': str(folder), 'calibration': str(folder / 'test_sequence_intrinsics.json')}
    dataset = ImageFolderDataset(config, {'height': 192, 'width': 640, 'offsets': [-1],
                                          'augment': {'enabled': False}})
    assert len(dataset) == 1
    item = dataset[0]
    assert item['name'].endswith('test_sequence_target.jpg')
    assert torch.allclose(item['k_norm'], torch.tensor([[0.58, 0, 0.5], [0, 1.92, 0.5],
                                                        [0, 0, 1.0]]))
    target = cv2.cvtColor(cv2.imread(str(folder / 'test_sequence_target.jpg')), cv2.COLOR_BGR2RGB)
    resized = cv2.resize(target, (640, 192), interpolation=cv2.INTER_AREA)
    assert torch.equal(item['target'], torch.from_numpy(resized).permute(2, 0, 1) / 255.0)
    assert item['sources'].shape == (1, 3, 192, 640)


# Synthetic world and the registry --------------------------------------------------------


def test_synthetic_day_and_night_with_exact_depth():
    dataset = SyntheticDataset({'lighting': 'both', 'seeds': [2], 'frames': 4,
                                'world': {'fx': 0.6}}, dict(PLAIN, height=32, width=48))
    assert [s.name for s in dataset.sources] == ['synthetic/day/seed2', 'synthetic/night/seed2']
    assert [s.night for s in dataset.sources] == [False, True] and len(dataset) == 4
    day = render_sequence(WorldConfig(width=48, height=32, frames=4, seed=2, fx=0.6))
    item = dataset[0]
    assert item['name'] == 'synthetic/day/seed2 000001'
    assert torch.allclose(item['k_norm'], day.k_norm)
    truth = day.depths[1, 0]
    assert torch.equal(item['depth'][0], torch.where(torch.isfinite(truth), truth, 0.0))
    assert (item['target'] - day.images[1]).abs().max() <= 0.5 / 255 + 1e-6
    with pytest.raises(ValueError, match='lighting'):
        SyntheticDataset({'lighting': 'dusk'})


def test_synthetic_worlds_drawn_per_seed():
    """Domain randomisation: each seed's day and night drives share one drawn camera height."""
    config = {'lighting': 'both', 'seeds': [3, 4], 'frames': 3,
              'world_ranges': {'camera_height': [1.2, 2.0]}}
    dataset = SyntheticDataset(config, dict(PLAIN, height=32, width=48))
    drawn = SyntheticConfig.from_dict(config)
    heights = [drawn.world_for(seed).camera_height for seed in (3, 4)]
    assert all(1.2 <= h <= 2.0 for h in heights) and heights[0] != heights[1]
    assert heights == [SyntheticConfig.from_dict(config).world_for(s).camera_height
                       for s in (3, 4)]  # the same every time
    night = render_sequence(WorldConfig(width=48, height=32, frames=3, seed=4, night=True,
                                        camera_height=heights[1]))
    truth = night.depths[1, 0]
    assert torch.equal(dataset[3]['depth'][0], torch.where(torch.isfinite(truth), truth, 0.0))
    for ranges, message in (({'moving_cars': [1, 3]}, 'real-valued'),
                            ({'camera_height': [2.0, 1.0]}, 'low, high'),
                            ({'seed': [1.0, 2.0]}, 'SyntheticConfig fields'),
                            ({'min_speed': [13.0, 14.0]}, 'min_speed')):
        with pytest.raises(ValueError, match=message):
            SyntheticConfig.from_dict({'world_ranges': ranges})


def test_make_dataset_and_batches(kitti_root, drive):
    dataset = make_dataset('kitti', {'root': str(kitti_root), 'depth': True}, PLAIN)
    batch = next(iter(DataLoader(dataset, batch_size=4)))
    assert batch['target'].shape == (4, 3, HEIGHT, WIDTH)
    assert batch['sources_aug'].shape == (4, 2, 3, HEIGHT, WIDTH)
    assert batch['k_norm'].shape == (4, 3, 3) and batch['depth'].shape == (4, 1, HEIGHT, WIDTH)
    assert batch['flipped'].shape == (4,) and len(batch['name']) == 4
    with pytest.raises(ValueError, match='unknown dataset .*known: image_folder, kitti'):
        make_dataset('nyu', {})
    assert SplitEntry('8', 1022, 'r').line() == '8 1022 r'
