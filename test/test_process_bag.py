"""
``defeat-ros process-bag``: a recorded night drive in, the node's outputs in a new bag out.

The drive is the synthetic street world at night (exact depth in the bag), written with
``write_bag``; the model is a tiny random-weights DeFeatNet on the PyTorch backend, run on one
thread (fastest for it, and immune to a busy machine). Whether a trained model's depth is
better than an untrained one's is checked with the default model, where one is installed.
"""

from dataclasses import replace
from pathlib import Path
import shutil

import cv2
from defeat_ros.apps.cli import main
from defeat_ros.bags.writer import BAG_VERSION
from defeat_ros.camera import bag_preview
from defeat_ros.camera.bag_processing import BagError, PartialBagError, process_bag, ProcessConfig
import defeat_ros.camera.frame_step as frame_step
from defeat_ros.camera.frame_step import OUTPUT_TOPICS, process_frame
from defeat_ros.camera.model_location import ConfigurationError, resolve_model
from defeat_ros.camera.odometry import LOST_VARIANCE, OdometryChain
from defeat_ros.camera.options import OutputOptions
from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.sequence_bag import write_bag
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.evaluation import depth_metrics
from defeat_ros.evaluation.report import BAR_HEIGHT, GAP, RAMP_HEIGHT
from defeat_ros.geometry import pixel_intrinsics_opencv
from defeat_ros.messages.builders import camera_info_msg, image_msg
from defeat_ros.messages.decode import camera_info_intrinsics
from defeat_ros.messages.typestore import CAMERA_INFO, header, IMAGE, TYPESTORE
from defeat_ros.nets import ModelConfig, save_model
from defeat_ros.nets.model_dir import read_config
from defeat_ros.runtime.perception import Perception
import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from test_evaluation_report import colour_map_index
import torch
from untrained import untrained_model

pytestmark = pytest.mark.usefixtures('one_thread')

WIDTH, HEIGHT, FRAMES = 320, 96, 12
START = 1_700_000_000.0
CONFIG = ModelConfig(encoder_width=16, feature_dims=8, height=64, width=96)
INPUTS = {'/camera/image_raw': IMAGE, '/camera/image_raw/compressed':
          'sensor_msgs/msg/CompressedImage', '/camera/camera_info': CAMERA_INFO,
          '/ground_truth/odometry': 'nav_msgs/msg/Odometry',
          '/camera/depth/ground_truth': IMAGE}
OUTPUTS = {'/camera/depth/image': IMAGE, '/camera/depth/visual': IMAGE,
           '/camera/depth/camera_info': CAMERA_INFO,
           '/camera/features/visual': IMAGE, '/camera/features/camera_info': CAMERA_INFO,
           '/camera/odometry': 'nav_msgs/msg/Odometry',
           '/camera/points': 'sensor_msgs/msg/PointCloud2'}
"""The default outputs, in image_transport's layout (each image's CameraInfo beside it)."""


@pytest.fixture(scope='module')
def drive():
    return render_sequence(WorldConfig(width=WIDTH, height=HEIGHT, frames=FRAMES, night=True,
                                       seed=2))


@pytest.fixture(scope='module')
def bag(drive, tmp_path_factory):
    return write_bag(drive, tmp_path_factory.mktemp('input') / 'night', image_transport='both',
                     depth=True, start_time=START, wheel_odometry=False)


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    return save_model(untrained_model(CONFIG), tmp_path_factory.mktemp('model') / 'tiny')


def options(model_dir, **overrides):
    return ProcessConfig(model=str(model_dir), backend='pytorch', **overrides)


@pytest.fixture(scope='module')
def processed(bag, model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp('output') / 'processed'
    report = process_bag(bag, out, options(model_dir, image_topic='/camera/image_raw'))
    return report, read_bag(out), read_bag(bag)


def read_bag(path):
    """Return {topic: (msgtype, [(log time, message, raw bytes), ...])}."""
    topics = {}
    with AnyReader([Path(path)], default_typestore=TYPESTORE) as reader:
        for connection in reader.connections:
            topics[connection.topic] = (connection.msgtype, [])
        for connection, timestamp, raw in reader.messages():
            message = reader.deserialize(raw, connection.msgtype)
            topics[connection.topic][1].append((timestamp, message, bytes(raw)))
    return topics


def stamp(message):
    return message.header.stamp.sec * 10 ** 9 + message.header.stamp.nanosec


def stamps(topics, topic):
    return [stamp(message) for _, message, _ in topics[topic][1]]


def depth_maps(topics, topic):
    return [message.data.view('<f4').reshape(message.height, message.width)
            for _, message, _ in topics[topic][1]]


def leftovers(folder, *expected):
    return sorted(p.name for p in folder.iterdir() if p.name not in expected)


def test_outputs_have_the_node_types_and_the_input_stamps(processed):
    report, out, inputs = processed
    assert {topic: kind for topic, (kind, _) in out.items()} == {**INPUTS, **OUTPUTS}
    assert report.topics == OUTPUTS and report.frames == report.total == FRAMES
    image_stamps = stamps(inputs, '/camera/image_raw')
    image_log_times = [t for t, _, _ in inputs['/camera/image_raw'][1]]
    for topic in OUTPUTS:
        assert stamps(out, topic) == image_stamps, topic
        assert [t for t, _, _ in out[topic][1]] == image_log_times, topic
        frame = 'odom' if topic.endswith('odometry') else 'camera_optical'
        assert {m.header.frame_id for _, m, _ in out[topic][1]} == {frame}, topic
    for _, depth, _ in out['/camera/depth/image'][1]:
        assert (depth.encoding, depth.height, depth.width) == ('32FC1', HEIGHT, WIDTH)
    for _, visual, _ in out['/camera/depth/visual'][1]:
        assert (visual.encoding, visual.height, visual.width) == ('rgb8', HEIGHT, WIDTH)
    info = inputs['/camera/camera_info'][1][0][1]
    for _, depth_info, _ in out['/camera/depth/camera_info'][1]:
        assert (depth_info.height, depth_info.width) == (HEIGHT, WIDTH)
        assert np.allclose(depth_info.k, info.k, atol=1e-3)
    for (_, visual, _), (_, features_info, _) in zip(out['/camera/features/visual'][1],
                                                     out['/camera/features/camera_info'][1]):
        # features_resolution 'model': the network's size, not the input's 320 x 96
        assert (visual.encoding, visual.height, visual.width) == \
            ('rgb8', CONFIG.height, CONFIG.width)
        assert (features_info.height, features_info.width) == (CONFIG.height, CONFIG.width)
        fx, fy, cx, cy = pixel_intrinsics_opencv(camera_info_intrinsics(info, HEIGHT, WIDTH),
                                                 CONFIG.height, CONFIG.width)
        np.testing.assert_allclose(features_info.k, [fx, 0, cx, 0, fy, cy, 0, 0, 1], atol=1e-3)
    cloud = out['/camera/points'][1][0][1]
    assert (cloud.height, cloud.width) == (HEIGHT // 4, WIDTH // 4)
    assert [f.name for f in cloud.fields] == ['x', 'y', 'z', 'rgb']
    odometry = [m for _, m, _ in out['/camera/odometry'][1]]
    assert {m.child_frame_id for m in odometry} == {'base_link'}
    assert odometry[0].twist.covariance[0] == LOST_VARIANCE > odometry[1].twist.covariance[0]
    assert report.copied == FRAMES * len(INPUTS) and not report.odometry_restarts
    for topic in INPUTS:  # copied byte for byte, at the recorded times
        assert [(t, raw) for t, _, raw in out[topic][1]] == \
            [(t, raw) for t, _, raw in inputs[topic][1]], topic


def test_output_bytes_are_what_the_node_publishes(processed, model_dir):
    """The bag holds the bytes of process_frame's messages, which rclpy serialises alike."""
    rclpy_serialization = pytest.importorskip('rclpy.serialization')
    from defeat_ros.ros.message_bridge import to_rclpy
    _, out, inputs = processed
    perception = Perception(model_dir, 'pytorch')
    chain = OdometryChain(0.5, OutputOptions().t_base_optical())  # process-bag's default mount
    info = inputs['/camera/camera_info'][1][0][1]
    k_norm = camera_info_intrinsics(info, HEIGHT, WIDTH)
    wanted = dict.fromkeys(OUTPUT_TOPICS, True)
    for index in range(2):
        message = inputs['/camera/image_raw'][1][index][1]
        image = message.data.reshape(HEIGHT, WIDTH, 3)
        frame = process_frame(perception, chain, image, 'rgb8', stamp(message),
                              message.header.frame_id, k_norm, wanted)
        for key, (msgtype, relative) in OUTPUT_TOPICS.items():
            data = TYPESTORE.serialize_cdr(frame.messages[key], msgtype)
            published = rclpy_serialization.serialize_message(to_rclpy(frame.messages[key]))
            # Equal up to CDR padding bytes, which rclpy leaves uninitialised.
            assert TYPESTORE.serialize_cdr(TYPESTORE.deserialize_cdr(published, msgtype),
                                           msgtype).tobytes() == data.tobytes(), key
            if f'/camera/{relative}' in out:
                assert out[f'/camera/{relative}'][1][index][2] == data.tobytes(), key


def test_trained_model_depth_beats_the_untrained_model(bag, tmp_path):
    try:
        trained = resolve_model('')
    except ConfigurationError as error:
        pytest.skip(f'needs the default model: {error}')
    torch.manual_seed(0)
    untrained = save_model(untrained_model(read_config(trained)), tmp_path / 'untrained_model')
    truth = None
    errors = {}
    for name, model in (('trained', ''), ('untrained', untrained)):
        out = tmp_path / f'{name}_depth'
        process_bag(bag, out, ProcessConfig(model=str(model), backend='pytorch',
                                            copy_input=False, outputs=['depth/image']))
        topics = read_bag(out)
        if truth is None:
            truth = depth_maps(read_bag(bag), '/camera/depth/ground_truth')
        errors[name] = np.mean([
            depth_metrics(torch.from_numpy(prediction.copy()),
                          torch.from_numpy(np.nan_to_num(gt.copy())))['abs_rel']
            for prediction, gt in zip(depth_maps(topics, '/camera/depth/image'), truth)])
    print(f'median-scaled AbsRel of {trained}: {errors["trained"]:.3f}, untrained: '
          f'{errors["untrained"]:.3f}')
    assert errors['trained'] < errors['untrained'], errors


def test_cli_processes_compressed_images_into_sqlite3(bag, model_dir, tmp_path, capsys):
    out = tmp_path / 'from_jpeg'
    code = main(['process-bag', str(bag), str(out), '--model', str(model_dir), '--backend',
                 'pytorch', '--image-topic', '/camera/image_raw/compressed', '--storage',
                 'sqlite3', '--no-copy', '--outputs', 'depth/image,odometry', '--quiet'])
    assert code == 0, capsys.readouterr().err
    assert (out / 'from_jpeg.db3').is_file() and 'sqlite3' in (out / 'metadata.yaml').read_text()
    topics = read_bag(out)
    assert set(topics) == {'/camera/depth/image', '/camera/odometry'}
    assert stamps(topics, '/camera/depth/image') == stamps(read_bag(bag), '/camera/image_raw')
    assert all(d.shape == (HEIGHT, WIDTH) for d in depth_maps(topics, '/camera/depth/image'))
    assert f'{FRAMES} frames of /camera/image_raw/compressed' in capsys.readouterr().out


def test_cli_writes_features_at_the_input_size_on_request(bag, model_dir, tmp_path, capsys):
    """--features-resolution input: features/image, its camera_info and visual at 320 x 96."""
    out = tmp_path / 'features'
    code = main(['process-bag', str(bag), str(out), '--model', str(model_dir), '--backend',
                 'pytorch', '--image-topic', '/camera/image_raw', '--no-copy', '--outputs',
                 'features/image,features/camera_info,features/visual,depth/image',
                 '--features-resolution', 'input', '--output-resolution', 'model', '--quiet'])
    assert code == 0, capsys.readouterr().err
    topics = read_bag(out)
    assert {topic: kind for topic, (kind, _) in topics.items()} == {
        '/camera/depth/image': IMAGE, '/camera/features/image': IMAGE,
        '/camera/features/camera_info': CAMERA_INFO, '/camera/features/visual': IMAGE}
    info = read_bag(bag)['/camera/camera_info'][1][0][1]
    for topic, encoding in [('/camera/features/image', '32FC8'),
                            ('/camera/features/visual', 'rgb8')]:
        assert all((m.encoding, m.height, m.width) == (encoding, HEIGHT, WIDTH)
                   for _, m, _ in topics[topic][1]), topic
    for _, features_info, _ in topics['/camera/features/camera_info'][1]:
        assert (features_info.height, features_info.width) == (HEIGHT, WIDTH)
        np.testing.assert_allclose(features_info.k, info.k, atol=1e-3)
    assert all(d.shape == (CONFIG.height, CONFIG.width)  # output_resolution: model
               for d in depth_maps(topics, '/camera/depth/image'))
    assert main(['process-bag', str(bag), str(out), '--model', str(model_dir)]) == 2
    assert 'exists already' in capsys.readouterr().err


def test_truncated_mcap_keeps_the_readable_frames(bag, model_dir, tmp_path, capsys):
    damaged = tmp_path / 'damaged'
    shutil.copytree(bag, damaged)
    data = damaged / 'night.mcap'
    data.write_bytes(data.read_bytes()[:data.stat().st_size * 6 // 10])
    out = tmp_path / 'partial'
    with pytest.raises(PartialBagError) as error:
        process_bag(damaged, out, options(model_dir, outputs=['depth/image', 'odometry'],
                                          image_topic='/camera/image_raw'))
    assert str(data) in str(error.value) and 'damaged' in str(error.value)
    report = error.value.report
    topics = read_bag(out)
    kept = stamps(topics, '/camera/depth/image')
    assert 0 < report.frames == len(kept) < FRAMES
    assert kept == stamps(read_bag(bag), '/camera/image_raw')[:len(kept)]
    assert len(topics['/camera/image_raw'][1]) == len(kept)  # copied as far as readable
    assert leftovers(tmp_path, 'damaged', 'partial') == []
    code = main(['process-bag', str(damaged), str(tmp_path / 'cli'), '--model', str(model_dir),
                 '--backend', 'pytorch', '--image-topic', '/camera/image_raw', '--no-copy',
                 '--outputs', 'depth/image', '--quiet'])
    captured = capsys.readouterr()
    assert code == 2 and str(data) in captured.err and f'wrote them to {tmp_path / "cli"}' \
        in captured.err and f'{len(kept)} frames' in captured.out


def test_unreadable_sqlite3_bag_is_an_error_naming_it(drive, model_dir, tmp_path):
    bag = write_bag(replace_frames(drive, 2), tmp_path / 'db', storage='sqlite3')
    data = bag / 'db.db3'
    data.write_bytes(data.read_bytes()[:data.stat().st_size // 2])
    with pytest.raises(BagError, match='truncated') as error:
        process_bag(bag, tmp_path / 'out', options(model_dir))
    assert str(bag) in str(error.value)
    assert leftovers(tmp_path, 'db') == []


def replace_frames(drive, count):
    return replace(drive, images=drive.images[:count], depths=drive.depths[:count],
                   poses=drive.poses[:count], stamps=drive.stamps[:count],
                   moving=drive.moving[:count])


def test_topic_problems_list_what_the_bag_has(drive, bag, processed, model_dir, tmp_path):
    no_images = tmp_path / 'no_images'
    with Writer(no_images, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP) as writer:
        connection = writer.add_connection('/camera/camera_info', CAMERA_INFO,
                                           typestore=TYPESTORE)
        message = camera_info_msg(drive.k_norm, HEIGHT, WIDTH, header(10, 'camera_optical'))
        writer.write(connection, 10, TYPESTORE.serialize_cdr(message, CAMERA_INFO))
    with pytest.raises(BagError, match=r'found: none\); the bag has: /camera/camera_info '
                                       r'\(sensor_msgs/msg/CameraInfo\)'):
        process_bag(no_images, tmp_path / 'out', options(model_dir))
    with pytest.raises(BagError, match='has type sensor_msgs/msg/CameraInfo, expected '
                                       'sensor_msgs/msg/Image or') as error:
        process_bag(bag, tmp_path / 'out', options(model_dir, image_topic='/camera/camera_info'))
    assert str(bag) in str(error.value)
    bare = write_bag(replace_frames(drive, 3), tmp_path / 'bare', camera_info=False,
                     odometry=False)
    with pytest.raises(BagError, match=r'CameraInfo .*found: none.*/camera/image_raw '
                                       r'\(sensor_msgs/msg/Image\)'):
        process_bag(bare, tmp_path / 'out', options(model_dir))
    processed_path = processed[0].output
    with pytest.raises(BagError, match='already has the output topics '
                                       '/camera/depth/camera_info, /camera/depth/image'):
        process_bag(processed_path, tmp_path / 'out',
                    options(model_dir, image_topic='/camera/image_raw'))
    assert leftovers(tmp_path, 'no_images', 'bare') == []
    report = process_bag(bare, tmp_path / 'out', options(
        model_dir, intrinsics='0.58,1.92,0.5,0.5', outputs='depth/camera_info'))
    assert report.frames == 3 and report.camera_info_topic is None
    info = read_bag(tmp_path / 'out')['/camera/depth/camera_info'][1][0][1]
    assert info.k[0] == pytest.approx(0.58 * WIDTH)


def test_preview_beside_the_bag_leaves_the_bag_as_it_is(bag, model_dir, tmp_path, capsys):
    """--preview: a contact sheet and a video beside OUT; OUT holds the same messages."""
    common = ['--model', str(model_dir), '--backend', 'pytorch', '--image-topic',
              '/camera/image_raw', '--no-copy', '--outputs', 'depth/image,odometry', '--quiet']
    plain, previewed = tmp_path / 'plain', tmp_path / 'previewed'
    assert main(['process-bag', str(bag), str(plain), *common]) == 0
    assert main(['process-bag', str(bag), str(previewed), *common, '--preview']) == 0
    sheet_path, video_path = tmp_path / 'previewed_preview.png', tmp_path / 'previewed_preview.mp4'
    assert f'preview: {sheet_path}, {video_path}' in capsys.readouterr().out
    assert leftovers(tmp_path, 'plain', 'previewed', sheet_path.name, video_path.name) == []
    assert sorted(p.name for p in previewed.iterdir()) == ['metadata.yaml', 'previewed.mcap']
    # The features the preview shows are not written: the same topics, times and bytes.
    assert read_bag(previewed).keys() == read_bag(plain).keys() == {
        '/camera/depth/image', '/camera/odometry'}
    for topic, (msgtype, messages) in read_bag(plain).items():
        assert read_bag(previewed)[topic][0] == msgtype
        assert [(t, raw) for t, _, raw in read_bag(previewed)[topic][1]] == \
            [(t, raw) for t, _, raw in messages], topic

    # A row per sheet frame: input | depth over its colour bar | features, at 480 pixels wide
    # (the 320 x 96 input enlarged, the 96 x 64 features stretched to its view).
    width, height = 480, 96 * 480 // 320
    row = height + BAR_HEIGHT
    sheet = cv2.imread(str(sheet_path))
    frames = bag_preview.SHEET_FRAMES
    assert sheet.shape == (frames * row + (frames - 1) * GAP, 3 * width + 2 * GAP, 3)
    for k in range(frames):
        top = k * (row + GAP)
        depth_tile = sheet[top:top + row, width + GAP:2 * width + GAP, ::-1]  # RGB
        features = sheet[top:top + height, 2 * width + 2 * GAP:, ::-1]
        assert depth_tile[:height].std() > 1.0 and features.std() > 1.0, k
        positions, distance = colour_map_index(depth_tile[height + 2 + RAMP_HEIGHT // 2],
                                               cv2.COLORMAP_MAGMA)
        assert distance.max() <= 3 and positions[0] >= 250 and positions[-1] <= 5, k
        assert (np.diff(positions) <= 0).all(), k
    # The video: every frame of this short bag, each the row the sheet shows.
    capture = cv2.VideoCapture(str(video_path))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, first = capture.read()
    capture.release()
    assert ok and count == FRAMES and first.shape == (row, 3 * width + 2 * GAP, 3)
    (tmp_path / 'again_preview.mp4').write_bytes(b'')
    with pytest.raises(FileExistsError, match='again_preview.mp4 exists already'):
        process_bag(bag, tmp_path / 'again', options(model_dir, preview=True))
    assert not (tmp_path / 'again').exists()


def test_preview_frames_are_spread_over_the_bag_and_skip_bad_ones(tmp_path):
    preview = bag_preview.BagPreview(tmp_path / 'out', FRAMES)
    assert preview.sheet_frames == [1, 4, 7, 10]  # the middles of 4 equal parts
    assert preview.video_frames == list(range(FRAMES))  # a short bag: every frame
    preview.video_frames = []
    assert not preview.wants(0) and preview.wants(1)
    assert preview.wants(2)  # when frame 1 could not be processed, frame 2 takes its place
    assert list(tmp_path.iterdir()) == []  # nothing is written before a frame is added


def test_no_half_written_output_after_a_failure(bag, model_dir, tmp_path, monkeypatch):
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError('backend failed')
        return process_frame(*args, **kwargs)
    monkeypatch.setattr(frame_step, 'process_frame', failing)
    with pytest.raises(RuntimeError, match='backend failed'):
        process_bag(bag, tmp_path / 'out', options(model_dir, image_topic='/camera/image_raw',
                                                   outputs=['depth/image'], preview=True))
    assert leftovers(tmp_path) == []  # no bag, no preview files, nothing hidden


def test_time_backwards_and_mixed_sizes_restart_odometry(drive, model_dir, tmp_path, capsys):
    images = images_uint8(drive.images)
    small = images[:, ::2, ::2].copy()
    frames = [(images[0], 0.0), (images[1], 0.1), (small[2], 0.2), (small[3], 0.05),
              (small[4], 0.15)]
    path = tmp_path / 'looped'
    with Writer(path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP) as writer:
        image = writer.add_connection('/cam/image', IMAGE, typestore=TYPESTORE)
        info = writer.add_connection('/cam/camera_info', CAMERA_INFO, typestore=TYPESTORE)
        message = camera_info_msg(drive.k_norm, HEIGHT, WIDTH, header(10 ** 9, 'cam'))
        writer.write(info, 10 ** 9, TYPESTORE.serialize_cdr(message, CAMERA_INFO))
        for index, (pixels, seconds) in enumerate(frames):
            hdr = header(10 ** 9 + round(seconds * 1e9), 'cam')
            writer.write(image, 10 ** 9 + index * 10 ** 8,
                         TYPESTORE.serialize_cdr(image_msg(pixels, hdr), IMAGE))
    report = process_bag(path, tmp_path / 'out', options(
        model_dir, outputs=['depth/image', 'odometry'], copy_input=False), progress=True)
    assert report.frames == 5
    assert report.odometry_restarts == {'image size changed': 1, 'time jumped backwards': 1}
    warnings = capsys.readouterr().err
    assert '5/5' in warnings.rsplit('\r', 1)[-1]  # the bar's last state: all frames done
    assert 'frame 2 of /cam/image: image size changed' in warnings
    assert 'frame 3 of /cam/image: time jumped backwards by 0.150 s' in warnings
    topics = read_bag(tmp_path / 'out')
    assert [d.shape for d in depth_maps(topics, '/cam/depth/image')] == \
        [(HEIGHT, WIDTH)] * 2 + [(HEIGHT // 2, WIDTH // 2)] * 3
    assert stamps(topics, '/cam/odometry') == [10 ** 9 + round(s * 1e9) for _, s in frames]
    odometry = [m for _, m, _ in topics['/cam/odometry'][1]]
    lost = [m.twist.covariance[0] >= LOST_VARIANCE for m in odometry]
    assert lost == [True, False, True, True, False]
    new_origin = odometry[3].pose.pose
    assert (new_origin.position.x, new_origin.position.y, new_origin.orientation.w) == (0, 0, 1)


def test_config_rejects_what_the_options_forbid():
    with pytest.raises(ValueError, match='outputs must be some of'):
        ProcessConfig(outputs='depth/image,normals')
    with pytest.raises(ValueError, match=r'outputs must be some of depth/image, .*got depth$'):
        ProcessConfig(outputs='depth')  # the name before image_transport's layout
    with pytest.raises(ValueError, match="backend: 'tensorflow' is not one of"):
        ProcessConfig(backend='tensorflow')
    with pytest.raises(ValueError, match=r'point_stride: 0 is not in \[1, 64\]'):
        ProcessConfig(point_stride=0)
    with pytest.raises(ValueError, match='device: .gpu0. does not match'):
        ProcessConfig(device='gpu0')


def test_the_summary_says_whether_depth_is_metric(processed, bag, model_dir, tmp_path):
    report = processed[0]
    assert report.metric_source == ''
    assert '  scale: not metric' in report.summary()
    report = process_bag(bag, tmp_path / 'height', options(
        model_dir, image_topic='/camera/image_raw', outputs=['depth/image'],
        scale_mode='camera_height', copy_input=False))
    assert report.metric_source == 'camera height'
    assert 0 <= report.ground_planes <= report.frames == FRAMES
    found = replace(report, ground_planes=3, frames=4, scale=7.25)
    assert found.scale_line() == ('scale: camera height, a ground plane on 3 of 4 frames '
                                  '(75%); scale 7.25 at the last frame')
    assert replace(report, ground_planes=0).scale_line().startswith(
        'scale: no ground plane found on any frame')
    assert replace(report, metric_source='velocity').scale_line() == (
        'scale: metres (the model was trained with velocity)')
    assert report.scale_line() in report.summary()


def test_speed_scale_takes_each_step_length_from_the_wheel(drive, bag, model_dir, tmp_path):
    with pytest.raises(BagError, match='scale_mode speed needs the vehicle speed'):
        process_bag(bag, tmp_path / 'no_wheel', options(
            model_dir, image_topic='/camera/image_raw', scale_mode='speed'))
    wheeled = write_bag(drive, tmp_path / 'wheeled', start_time=START)  # 1 % fast, noisy
    report = process_bag(wheeled, tmp_path / 'speed', options(
        model_dir, outputs=['odometry'], scale_mode='speed', camera_z=0.0, copy_input=False))
    assert report.speed_topic == '/vehicle/wheel_odometry'
    assert report.steps_from_speed == report.steps == FRAMES - 1
    assert (f'scale: vehicle speed on /vehicle/wheel_odometry: {FRAMES - 1} of {FRAMES - 1} '
            'odometry steps') in report.summary()
    odometry = [message for _, message, _ in read_bag(tmp_path / 'speed')['/camera/odometry'][1]]
    positions = np.array([[m.pose.pose.position.x, m.pose.pose.position.y,
                           m.pose.pose.position.z] for m in odometry])
    true_steps = np.linalg.norm(np.diff(drive.poses[:, :3, 3].numpy(), axis=0), axis=1)
    steps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    assert steps == pytest.approx(1.01 * true_steps, rel=0.02)
