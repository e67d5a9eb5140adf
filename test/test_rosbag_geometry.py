"""Camera geometry of rosbag2 training bags: raw topics undistorted, rectified ones used as is."""

import cv2
from defeat_ros.bags.reader import BagError
from defeat_ros.bags.writer import BAG_VERSION
from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.rosbag_sequence import BagConfig, is_rectified_topic, RosbagDataset
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.geometry import normalise_intrinsics
from defeat_ros.messages.builders import image_msg
from defeat_ros.messages.typestore import CAMERA_INFO, COMPRESSED_IMAGE, header, IMAGE, msg
from defeat_ros.messages.typestore import TYPESTORE
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
import torch

FRAMES, HEIGHT, WIDTH = 4, 64, 96
PLAIN = {'height': HEIGHT, 'width': WIDTH, 'augment': {'enabled': False}}
"""Sample config at the native size without augmentation: loaded frames are the written ones."""
K = [60.0, 0.0, 47.5, 0.0, 62.0, 31.5, 0.0, 0.0, 1.0]
"""Raw camera matrix of the CameraInfo (OpenCV pixels)."""
D = [-0.3, 0.1, 0.001, -0.002, 0.0]
"""Strong plumb_bob distortion of the raw camera."""
P = [55.0, 0.0, 48.0, 0.0, 0.0, 57.0, 32.0, 0.0, 0.0, 0.0, 1.0, 0.0]
"""Projection of the rectified camera, unlike K."""
P_K_NORM = normalise_intrinsics(55.0, 57.0, 48.0, 32.0, WIDTH, HEIGHT)
"""Normalised intrinsics of P: what every CameraInfo-based load must report."""


@pytest.fixture(scope='module')
def drive():
    """Render a tiny street drive, 4 frames of 96 x 64 pixels."""
    return render_sequence(WorldConfig(width=WIDTH, height=HEIGHT, frames=FRAMES, seed=5),
                           workers=2)


@pytest.fixture(scope='module')
def images(drive):
    """Return the drive's frames as written to the bags: F x H x W x 3 uint8 RGB."""
    return images_uint8(drive.images)


def camera_info(k=K, d=D, p=P, width=WIDTH, height=HEIGHT, stamp=0):
    """Return a plumb_bob sensor_msgs/CameraInfo (identity R) as a camera driver publishes it."""
    roi = msg('sensor_msgs/msg/RegionOfInterest', x_offset=0, y_offset=0, height=0, width=0,
              do_rectify=False)
    return msg(CAMERA_INFO, header=header(stamp, 'cam'), height=height, width=width,
               distortion_model='plumb_bob', d=np.array(d, float), k=np.array(k, float),
               r=np.eye(3).reshape(-1), p=np.array(p, float), binning_x=0, binning_y=0,
               roi=roi)


def depth_image(depth, stamp):
    """Return a 32FC1 sensor_msgs/Image of an H x W float32 array (metres)."""
    data = np.ascontiguousarray(depth, dtype='<f4').view(np.uint8).reshape(-1)
    return msg(IMAGE, header=header(stamp, 'cam'), height=depth.shape[0], width=depth.shape[1],
               encoding='32FC1', is_bigendian=0, step=4 * depth.shape[1], data=data)


def write_camera_bag(path, images, topic, infos=('/cam/camera_info',), info=None, depths=None):
    """
    Record F frames on ``topic`` with a CameraInfo on each of ``infos``.

    :param images: F x H x W x 3 uint8 RGB; a topic ending in /compressed gets PNG images.
    :param info: the CameraInfo of every frame (default :func:`camera_info`).
    :param depths: F x H x W float32 metres on ``/cam/depth``, or None.
    :return: the bag directory.
    """
    with Writer(path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP) as writer:
        compressed = topic.endswith('/compressed')
        image = writer.add_connection(topic, COMPRESSED_IMAGE if compressed else IMAGE,
                                      typestore=TYPESTORE)
        info_connections = [writer.add_connection(name, CAMERA_INFO, typestore=TYPESTORE)
                            for name in infos]
        depth = depths is not None and writer.add_connection('/cam/depth', IMAGE,
                                                             typestore=TYPESTORE)
        for index, rgb in enumerate(images):
            stamp = 10 ** 9 + index * 10 ** 8
            if compressed:
                _, png = cv2.imencode('.png', np.ascontiguousarray(rgb[..., ::-1]))
                message = msg(COMPRESSED_IMAGE, header=header(stamp, 'cam'), format='png',
                              data=png.reshape(-1))
                writer.write(image, stamp, TYPESTORE.serialize_cdr(message, COMPRESSED_IMAGE))
            else:
                writer.write(image, stamp,
                             TYPESTORE.serialize_cdr(image_msg(rgb, header(stamp, 'cam')), IMAGE))
            for connection in info_connections:
                message = info if info is not None else camera_info(stamp=stamp)
                writer.write(connection, stamp, TYPESTORE.serialize_cdr(message, CAMERA_INFO))
            if depth:
                writer.write(depth, stamp,
                             TYPESTORE.serialize_cdr(depth_image(depths[index], stamp), IMAGE))
    return path


def undistorted(images):
    """Undistort F x H x W x 3 frames of the raw camera (K, D) to the camera P, with OpenCV."""
    maps = cv2.initUndistortRectifyMap(np.reshape(K, (3, 3)), np.array(D), np.eye(3),
                                       np.reshape(P, (3, 4))[:, :3], (WIDTH, HEIGHT),
                                       cv2.CV_32FC1)
    return np.stack([cv2.remap(image, maps[0], maps[1], cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT) for image in images])


def load(path, **source):
    """Return the one BagSequence of a RosbagDataset on ``path`` and the dataset's first item."""
    dataset = RosbagDataset(dict(source, paths=[str(path)]), PLAIN)
    return dataset.sources[0], dataset[0]


@pytest.mark.parametrize('topic, rectified', [
    ('/camera/image_rect', True), ('/cam/image_rect_color', True),
    ('/cam/image_rect_color/compressed', True), ('image_rect', True),
    ('/camera/image_raw', False), ('/camera/image_raw/compressed', False),
    ('/camera/image', False), ('/rect/image_color', False), ('/cam/my_image_rect', False)])
def test_rectified_topics_are_recognised_by_name(topic, rectified):
    assert is_rectified_topic(topic) is rectified


def test_rectified_topic_uses_p_and_keeps_the_pixels(images, drive, tmp_path):
    depths = np.nan_to_num(drive.depths[:, 0].numpy(), nan=0.0).astype(np.float32)
    path = write_camera_bag(tmp_path / 'rect', images, '/cam/image_rect_color', depths=depths)
    source, item = load(path, depth_topic='/cam/depth')
    assert source.rectified and source.rectifier.identity
    assert torch.allclose(source.k_norm, P_K_NORM, atol=1e-6)
    assert torch.allclose(item['k_norm'], P_K_NORM, atol=1e-6)
    assert np.array_equal(source.frames, images)
    assert np.array_equal(source.depths, depths)
    lazy, _ = load(path, preload=False)
    assert np.array_equal(lazy.image(2), images[2])


def test_compressed_rectified_topic_keeps_png_pixels(images, tmp_path):
    path = write_camera_bag(tmp_path / 'png', images, '/cam/image_rect_color/compressed')
    source, item = load(path)
    assert source.image_topic == '/cam/image_rect_color/compressed' and source.rectified
    assert torch.allclose(item['k_norm'], P_K_NORM, atol=1e-6)
    assert np.array_equal(source.frames, images)


def test_rectified_topic_without_p_uses_k(images, tmp_path):
    path = write_camera_bag(tmp_path / 'no_p', images, '/cam/image_rect',
                            info=camera_info(p=[0.0] * 12))
    source, _ = load(path)
    assert torch.allclose(source.k_norm, normalise_intrinsics(60.0, 62.0, 47.5, 31.5, WIDTH,
                                                              HEIGHT), atol=1e-6)
    assert np.array_equal(source.frames, images)


def test_raw_topic_is_undistorted_to_p(images, tmp_path):
    path = write_camera_bag(tmp_path / 'raw', images, '/cam/image_raw')
    source, item = load(path)
    assert not source.rectified and not source.rectifier.identity
    assert torch.allclose(item['k_norm'], P_K_NORM, atol=1e-6)
    want = undistorted(images)
    assert np.abs(want.astype(int) - images).mean() > 5  # the distortion moves pixels a lot
    assert np.array_equal(source.frames, want)


def test_rectified_setting_overrides_the_topic_name(images, tmp_path):
    rect = write_camera_bag(tmp_path / 'rect', images, '/cam/image_rect')
    source, _ = load(rect, rectified=False)
    assert not source.rectified
    assert np.array_equal(source.frames, undistorted(images))
    raw = write_camera_bag(tmp_path / 'raw', images, '/cam/image_raw')
    source, item = load(raw, rectified=True)
    assert source.rectified
    assert torch.allclose(item['k_norm'], P_K_NORM, atol=1e-6)
    assert np.array_equal(source.frames, images)
    with pytest.raises(ValueError, match="rectified must be 'auto', true or false"):
        BagConfig(rectified='yes')
    with pytest.raises(ValueError, match="rectified must be 'auto', true or false"):
        BagConfig(rectified=1)


def test_configured_intrinsics_win_over_camera_info(images, tmp_path):
    intrinsics = [0.61, 0.93, 0.48, 0.53]
    want = torch.tensor([[0.61, 0.0, 0.48], [0.0, 0.93, 0.53], [0.0, 0.0, 1.0]])
    raw = write_camera_bag(tmp_path / 'raw', images, '/cam/image_raw')
    source, item = load(raw, intrinsics=intrinsics)
    assert torch.allclose(item['k_norm'], want, atol=1e-6)
    assert np.array_equal(source.frames, images)
    # CameraInfo is not read: two ambiguous topics of the wrong size are no obstacle.
    ambiguous = write_camera_bag(tmp_path / 'ambiguous', images, '/cam/image_rect',
                                 infos=('/a/camera_info', '/b/camera_info'),
                                 info=camera_info(width=2 * WIDTH, height=2 * HEIGHT))
    with pytest.raises(BagError, match='not exactly one CameraInfo'):
        load(ambiguous)
    with pytest.raises(BagError, match='camera info is for 192x128'):
        load(ambiguous, camera_info_topic='/a/camera_info')
    source, item = load(ambiguous, intrinsics=intrinsics)
    assert torch.allclose(item['k_norm'], want, atol=1e-6)
    assert np.array_equal(source.frames, images)
    with pytest.raises(ValueError, match='intrinsics or camera_info_topic, not both'):
        BagConfig(intrinsics=intrinsics, camera_info_topic='/a/camera_info')
