"""Write rendered drives into rosbag2 files (MCAP, SQLite 3) and read them back with rosbags."""

from dataclasses import replace
import re

import cv2
from defeat_ros.bags.writer import BAG_VERSION
from defeat_ros.data.body_motion import body_trajectory
from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.sequence_bag import write_bag
from defeat_ros.data.textured_corridor import render_drive
from defeat_ros.geometry import axis_angle_to_matrix, invert_pose, matrix_to_quaternion
from defeat_ros.geometry import normalise_intrinsics, pixel_intrinsics_opencv, R_OPTICAL_BODY
from defeat_ros.geometry import scale_intrinsics
from defeat_ros.messages.typestore import TYPESTORE
import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import Reader
import torch

FRAMES, HEIGHT, WIDTH = 5, 64, 96
START = 1_700_000_000.25
FRAME_TOPICS = {
    '/camera/image_raw': 'sensor_msgs/msg/Image',
    '/camera/image_raw/compressed': 'sensor_msgs/msg/CompressedImage',
    '/camera/camera_info': 'sensor_msgs/msg/CameraInfo',
    '/ground_truth/odometry': 'nav_msgs/msg/Odometry',
    '/camera/depth/ground_truth': 'sensor_msgs/msg/Image',
}
"""The topics with a message per frame (the wheel odometry has a rate of its own)."""
WHEEL_TOPIC = '/vehicle/wheel_odometry'


@pytest.fixture(scope='module')
def sequence():
    """Render a short forward drive (0.5 m a frame at 10 fps), with some sky in the depth."""
    drive = render_drive(FRAMES, HEIGHT, WIDTH, seed=1)
    depths = drive.depths.clone()
    depths[:, :, :6] = float('inf')
    return replace(drive, depths=depths)


@pytest.fixture(scope='module', params=['mcap', 'sqlite3'])
def bag(request, sequence, tmp_path_factory):
    """Write every topic into a bag of each storage; return (path, storage, messages by topic)."""
    path = write_bag(sequence, tmp_path_factory.mktemp(request.param) / 'drive',
                     storage=request.param, image_transport='both', depth=True,
                     start_time=START)
    return path, request.param, read_bag(path)


def read_bag(path):
    """Return {topic: (msgtype, [(receive time ns, message), ...])} of a rosbag2 directory."""
    topics = {}
    with AnyReader([path], default_typestore=TYPESTORE) as reader:
        for connection in reader.connections:
            topics[connection.topic] = (connection.msgtype, [])
        for connection, timestamp, raw in reader.messages():
            message = reader.deserialize(raw, connection.msgtype)
            topics[connection.topic][1].append((timestamp, message))
    return topics


def stamp_of(message):
    """Return the header stamp of a message in integer nanoseconds."""
    return message.header.stamp.sec * 10 ** 9 + message.header.stamp.nanosec


def quaternion_to_matrix(x, y, z, w):
    """Return the rotation matrix of a unit quaternion."""
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def odometry_poses(messages):
    """Return F x 4 x 4 float64 T_odom_base of odometry messages."""
    poses = []
    for _, message in messages:
        pose = np.eye(4)
        p, q = message.pose.pose.position, message.pose.pose.orientation
        pose[:3, :3] = quaternion_to_matrix(q.x, q.y, q.z, q.w)
        pose[:3, 3] = [p.x, p.y, p.z]
        poses.append(pose)
    return torch.from_numpy(np.stack(poses))


def test_bag_has_every_topic_once_per_frame(bag):
    path, storage, topics = bag
    assert {topic: msgtype for topic, (msgtype, _) in topics.items()} == \
        {**FRAME_TOPICS, WHEEL_TOPIC: 'nav_msgs/msg/Odometry'}
    assert all(len(topics[topic][1]) == FRAMES for topic in FRAME_TOPICS)
    suffix = {'mcap': '.mcap', 'sqlite3': '.db3'}[storage]
    assert (path / f'{path.name}{suffix}').is_file()
    metadata = (path / 'metadata.yaml').read_text()
    assert re.search(rf'^  version: {BAG_VERSION}$', metadata, re.MULTILINE)
    assert re.search(rf'^  storage_identifier: {storage}$', metadata, re.MULTILINE)
    with Reader(path) as reader:
        assert reader.message_count == len(FRAME_TOPICS) * FRAMES + len(topics[WHEEL_TOPIC][1])


def test_stamps_are_the_sequence_stamps(bag, sequence):
    _, _, topics = bag
    expected = [1_700_000_000_250_000_000 + round(s * 1e9) for s in sequence.stamps.tolist()]
    for topic in FRAME_TOPICS:
        messages = topics[topic][1]
        received = [timestamp for timestamp, _ in messages]
        stamps = [stamp_of(message) for _, message in messages]
        assert stamps == expected, topic
        assert received == expected, topic
        assert all(b > a for a, b in zip(stamps, stamps[1:]))


def test_frame_ids(bag):
    _, _, topics = bag
    for topic, (_, messages) in topics.items():
        expected = 'odom' if topic in ('/ground_truth/odometry', WHEEL_TOPIC) else \
            'camera_optical'
        assert {message.header.frame_id for _, message in messages} == {expected}, topic
    for topic in ('/ground_truth/odometry', WHEEL_TOPIC):
        assert {m.child_frame_id for _, m in topics[topic][1]} == {'base_link'}


def test_raw_images_are_the_uint8_images(bag, sequence):
    _, _, topics = bag
    expected = images_uint8(sequence.images)
    for index, (_, message) in enumerate(topics['/camera/image_raw'][1]):
        assert (message.encoding, message.height, message.width) == ('rgb8', HEIGHT, WIDTH)
        assert message.step == 3 * WIDTH and message.is_bigendian == 0
        assert np.array_equal(message.data.reshape(HEIGHT, WIDTH, 3), expected[index])


def test_compressed_images_decode_close(bag, sequence):
    _, _, topics = bag
    expected = images_uint8(sequence.images).astype(np.float64)
    for index, (_, message) in enumerate(topics['/camera/image_raw/compressed'][1]):
        assert message.format == 'jpeg'
        image = cv2.imdecode(message.data, cv2.IMREAD_COLOR)
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float64)
        assert np.abs(rgb - expected[index]).mean() < 6.0


def test_camera_info_holds_the_intrinsics(bag, sequence):
    _, _, topics = bag
    for _, message in topics['/camera/camera_info'][1]:
        assert (message.height, message.width) == (HEIGHT, WIDTH)
        assert message.distortion_model == 'plumb_bob'
        assert np.array_equal(message.d, np.zeros(5))
        assert np.array_equal(message.r, np.eye(3).reshape(-1))
        k = message.k.reshape(3, 3)
        k_norm = normalise_intrinsics(k[0, 0], k[1, 1], k[0, 2], k[1, 2], WIDTH, HEIGHT)
        assert torch.allclose(k_norm, sequence.k_norm, atol=1e-7)
        assert np.array_equal(message.p.reshape(3, 4), np.concatenate([k, np.zeros((3, 1))], 1))


def test_depth_is_32fc1_metres_with_nan_for_no_depth(bag, sequence):
    _, _, topics = bag
    for index, (_, message) in enumerate(topics['/camera/depth/ground_truth'][1]):
        assert (message.encoding, message.step, message.is_bigendian) == ('32FC1', 4 * WIDTH, 0)
        depth = message.data.view('<f4').reshape(HEIGHT, WIDTH)
        expected = sequence.depths[index, 0].numpy()
        finite = np.isfinite(expected)
        assert np.array_equal(np.isnan(depth), ~finite)
        assert np.array_equal(depth[finite], expected[finite])
        assert (~finite).any() and finite.any()


def test_odometry_is_the_trajectory_in_body_axes(bag, sequence):
    _, _, topics = bag
    t_odom_base = odometry_poses(topics['/ground_truth/odometry'][1])
    optical_body = torch.eye(4, dtype=torch.float64)
    optical_body[:3, :3] = torch.from_numpy(R_OPTICAL_BODY)
    recovered = optical_body @ t_odom_base @ optical_body.T  # back to optical frames
    poses = sequence.poses.double()
    expected = invert_pose(poses[:1]) @ poses
    assert torch.allclose(recovered, expected, atol=1e-6)  # float32 poses: orthonormal to 1e-7
    assert torch.allclose(t_odom_base[0], torch.eye(4, dtype=torch.float64), atol=1e-12)
    x = t_odom_base[:, 0, 3]
    assert (x[1:] > x[:-1]).all()  # driving forward along the optical z axis


def test_odometry_twist_integrates_to_the_next_pose(bag, sequence):
    _, _, topics = bag
    messages = topics['/ground_truth/odometry'][1]
    t_odom_base = odometry_poses(messages)
    seconds = sequence.stamps.tolist()
    for index in range(1, FRAMES):
        twist = messages[index][1].twist.twist
        dt = seconds[index] - seconds[index - 1]
        linear = np.array([twist.linear.x, twist.linear.y, twist.linear.z])
        angular = torch.tensor([[twist.angular.x, twist.angular.y, twist.angular.z]],
                               dtype=torch.float64)
        before, after = t_odom_base[index - 1].numpy(), t_odom_base[index].numpy()
        assert np.allclose(after[:3, 3] - after[:3, :3] @ linear * dt, before[:3, 3], atol=1e-9)
        step = axis_angle_to_matrix(angular * dt)[0].numpy()
        assert np.allclose(before[:3, :3] @ step, after[:3, :3], atol=1e-6)
        assert twist.linear.x > 4.0  # 0.5 m a frame at 10 fps
    first = messages[0][1].twist.twist
    assert first.linear.x == pytest.approx(messages[1][1].twist.twist.linear.x, rel=0.1)


def test_default_topics_and_namespace(sequence, tmp_path):
    topics = read_bag(write_bag(sequence, tmp_path / 'default'))
    assert set(topics) == {'/camera/image_raw', '/camera/camera_info', '/ground_truth/odometry',
                           WHEEL_TOPIC}
    topics = read_bag(write_bag(sequence, tmp_path / 'bare', image_transport='compressed',
                                camera_info=False, odometry=False, namespace='front/cam/',
                                frame_id='front_optical', wheel_odometry=False))
    assert set(topics) == {'/front/cam/image_raw/compressed'}
    messages = topics['/front/cam/image_raw/compressed'][1]
    assert {message.header.frame_id for _, message in messages} == {'front_optical'}
    assert stamp_of(messages[0][1]) == 1_700_000_000 * 10 ** 9
    topics = read_bag(write_bag(sequence, tmp_path / 'root', namespace='', odometry=False))
    assert set(topics) == {'/image_raw', '/camera_info', WHEEL_TOPIC}


def test_refuses_to_overwrite(sequence, tmp_path):
    path = tmp_path / 'existing'
    path.mkdir()
    with pytest.raises(FileExistsError, match=re.escape(str(path))):
        write_bag(sequence, path)


@pytest.mark.parametrize('arguments, message', [
    ({'storage': 'rosbag1'}, 'mcap'), ({'image_transport': 'theora'}, 'compressed'),
    ({'jpeg_quality': -1}, 'jpeg_quality')])
def test_bad_arguments_raise_value_error(sequence, tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        write_bag(sequence, tmp_path / 'bag', **arguments)
    assert not (tmp_path / 'bag').exists()


def test_stamps_must_increase(sequence, tmp_path):
    stamps = sequence.stamps.clone()
    stamps[3] = stamps[2]
    with pytest.raises(ValueError, match='increase'):
        write_bag(replace(sequence, stamps=stamps), tmp_path / 'bag')


def test_single_frame_has_zero_twist(sequence, tmp_path):
    single = replace(sequence, images=sequence.images[:1], depths=sequence.depths[:1],
                     poses=sequence.poses[:1], stamps=sequence.stamps[:1],
                     moving=sequence.moving[:1])
    (_, message), = read_bag(write_bag(single, tmp_path / 'bag'))['/ground_truth/odometry'][1]
    assert message.twist.twist.linear.x == 0.0 and message.twist.twist.angular.z == 0.0


def test_pixel_intrinsics_round_trip():
    gen = torch.Generator().manual_seed(0)
    for height, width in ((64, 96), (375, 1242), (1, 1)):
        k_norm = torch.eye(3)
        k_norm[[0, 1, 0, 1], [0, 1, 2, 2]] = 0.2 + torch.rand(4, generator=gen)
        fx, fy, cx, cy = pixel_intrinsics_opencv(k_norm, height, width)
        assert torch.allclose(normalise_intrinsics(fx, fy, cx, cy, width, height), k_norm,
                              atol=1e-7)
        k_pix = scale_intrinsics(k_norm.double(), height, width)
        assert (fx, fy) == pytest.approx((k_pix[0, 0].item(), k_pix[1, 1].item()))
        assert (cx, cy) == pytest.approx((k_pix[0, 2].item() - 0.5, k_pix[1, 2].item() - 0.5))
    centred = normalise_intrinsics(50.0, 50.0, (WIDTH - 1) / 2, (HEIGHT - 1) / 2, WIDTH, HEIGHT)
    assert torch.allclose(centred[:2, 2], torch.tensor([0.5, 0.5]))
    assert pixel_intrinsics_opencv(centred, HEIGHT, WIDTH) == pytest.approx((50, 50, 47.5, 31.5))


def test_matrix_to_quaternion_inverts_quaternion_to_matrix():
    gen = torch.Generator().manual_seed(0)
    axes = torch.nn.functional.normalize(torch.randn(64, 3, generator=gen, dtype=torch.float64))
    angles = torch.cat([torch.linspace(0.0, 3.14159, 60, dtype=torch.float64),
                        torch.full((4,), 3.14159265, dtype=torch.float64)]).view(64, 1)
    rotations = axis_angle_to_matrix(axes * angles).numpy()
    rotations[-1] = np.diag([1.0, -1.0, -1.0])
    for rotation in rotations:
        q = matrix_to_quaternion(rotation)
        assert np.linalg.norm(q) == pytest.approx(1.0) and q[3] >= 0
        assert np.allclose(quaternion_to_matrix(*q), rotation, atol=1e-9)


def test_body_trajectory_of_a_forward_optical_motion():
    poses = torch.eye(4, dtype=torch.float64).repeat(2, 1, 1)
    poses[1, :3, 3] = torch.tensor([0.3, 0.2, 1.0])  # right, down, forward in optical axes
    trajectory = body_trajectory(poses)
    expected = torch.tensor([1.0, -0.3, -0.2], dtype=torch.float64)  # forward, left, up
    assert torch.allclose(trajectory[1, :3, 3], expected)
