"""Vehicle speeds of KITTI raw (oxts packets, as read and as written) and RobotCar (INS, VO)."""

import shutil
from types import SimpleNamespace

from data_layouts import write_robotcar_run
from defeat_ros.data.body_motion import body_trajectory, body_twists
from defeat_ros.data.kitti import KittiDataset
from defeat_ros.data.kitti_oxts import OXTS_FIELDS, packet_speeds, read_oxts_packets
from defeat_ros.data.kitti_writer import EARTH_RADIUS, OXTS_ORIGIN, VELOCITY_NOISE
from defeat_ros.data.kitti_writer import write_kitti_raw
from defeat_ros.data.robotcar import RobotCarConfig, RobotCarDataset
from defeat_ros.data.textured_corridor import render_drive
from defeat_ros.geometry import normalise_intrinsics, rpy_to_matrix
import numpy as np
import pytest
import torch

FRAMES, HEIGHT, WIDTH = 6, 32, 48
"""The written KITTI drive: frames 0.1 s apart (render_drive's 10 fps)."""
DRIVE = '2011_09_26/2011_09_26_drive_0001_sync'
PLAIN = {'height': HEIGHT, 'width': WIDTH, 'augment': {'enabled': False}}
FIELD = {name: number for number, name in enumerate(OXTS_FIELDS)}


@pytest.fixture(scope='module')
def sequence():
    """Render a short drive (about 5 m/s forward, weaving sideways)."""
    return render_drive(FRAMES, HEIGHT, WIDTH, seed=1)


@pytest.fixture(scope='module')
def written(sequence, tmp_path_factory):
    """Write the drive once; return the dataset root."""
    root = tmp_path_factory.mktemp('kitti')
    write_kitti_raw(sequence, root)
    return root


@pytest.fixture
def kitti_root(written, tmp_path):
    """Return a copy of the written root that a test may change."""
    return shutil.copytree(written, tmp_path / 'kitti')


def true_speeds(sequence):
    """Return the F true speeds (m/s) of the body at the camera, as the writer derives them."""
    linear, _ = body_twists(body_trajectory(sequence.poses), sequence.stamps)
    return linear.norm(dim=1).numpy()


def write_oxts(drive, lines, stamps):
    """Replace a drive's oxts packets: one per (vf, vl, vu) line, at times in seconds ('' lost)."""
    data = drive / 'oxts' / 'data'
    shutil.rmtree(data)
    data.mkdir()
    for number, (forward, left, up) in enumerate(lines):
        packet = np.zeros(len(OXTS_FIELDS))
        packet[[FIELD['vf'], FIELD['vl'], FIELD['vu']]] = forward, left, up
        (data / f'{number:010d}.txt').write_text(' '.join(f'{v:g}' for v in packet) + '\n')
    times = [f'2011-09-26 12:00:{s:012.9f}' if s != '' else '' for s in stamps]
    (drive / 'oxts' / 'timestamps.txt').write_text('\n'.join(times) + '\n')


def test_written_packets_are_an_ins_record_of_the_ground_truth(sequence, written):
    numbers, packets = read_oxts_packets(written / DRIVE / 'oxts' / 'data')
    assert numbers.tolist() == list(range(FRAMES)) and packets.shape == (FRAMES, 30)
    truth = true_speeds(sequence)
    assert truth.min() > 4.0
    error = packet_speeds(packets) - truth
    assert np.abs(error).max() < 4 * VELOCITY_NOISE and np.abs(error).max() > 1e-4  # noisy
    trajectory = body_trajectory(sequence.poses).numpy()
    for packet, pose in zip(packets, trajectory):
        roll, pitch, yaw = packet[[FIELD['roll'], FIELD['pitch'], FIELD['yaw']]]
        assert np.allclose(rpy_to_matrix(roll, pitch, yaw), pose[:3, :3], atol=1e-6)
        # vn, ve: the noisy body velocity turned east-north-up
        body = packet[[FIELD['vf'], FIELD['vl'], FIELD['vu']]]
        assert np.allclose((pose[:3, :3] @ body)[:2], packet[[FIELD['ve'], FIELD['vn']]])
    # the raw devkit's Mercator projection (scaled at the first latitude) gives positions back
    scale = np.cos(np.radians(packets[0, FIELD['lat']]))
    east = scale * EARTH_RADIUS * np.radians(packets[:, FIELD['lon']])
    north = scale * EARTH_RADIUS * np.log(np.tan(np.radians(90 + packets[:, FIELD['lat']]) / 2))
    up = packets[:, FIELD['alt']]
    assert packets[0, FIELD['lat']] == OXTS_ORIGIN[0]
    assert np.allclose(np.stack([east - east[0], north - north[0], up - up[0]], axis=1),
                       trajectory[:, :3, 3], atol=1e-4)
    # at constant speed the accelerometer measures gravity, up in the body frame
    assert np.allclose(packets[:, FIELD['az']], 9.81, atol=0.3)
    assert packets[:, FIELD['numsats']].tolist() == [10] * FRAMES


def test_kitti_sample_distances_are_the_travelled_distance(sequence, written):
    dataset = KittiDataset({'root': str(written)}, PLAIN)
    assert dataset.speed_sources == ['KITTI oxts']
    assert np.allclose(dataset.sources[0].speeds, true_speeds(sequence), atol=0.1)
    positions = sequence.poses[:, :3, 3].double().numpy()
    for index in range(len(dataset)):
        sample = dataset[index]
        target = int(dataset.target_frame[index])
        travelled = [np.linalg.norm(positions[target + offset] - positions[target])
                     for offset in sample['offsets'].tolist()]
        assert np.allclose(sample['distances'].numpy(), travelled, rtol=0.02)


def test_oxts_speeds_are_interpolated_at_the_image_stamps(kitti_root):
    # packets half a frame after frames 0, 1, 2 (frames: 0.0 .. 0.5 s); speeds 5, 10, 2 m/s
    drive = kitti_root / DRIVE
    write_oxts(drive, [(3, 4, 0), (6, 0, 8), (0, 0, 2)], [0.05, 0.15, 0.25])
    speeds = KittiDataset({'root': str(kitti_root)}, PLAIN).sources[0].speeds
    assert np.allclose(speeds, [np.nan, 7.5, 6.0, np.nan, np.nan, np.nan], equal_nan=True)
    # a lost packet (empty timestamp line) is skipped: frame 1 lies between 5 and 2 m/s
    write_oxts(drive, [(3, 4, 0), (6, 0, 8), (0, 0, 2)], [0.05, '', 0.25])
    speeds = KittiDataset({'root': str(kitti_root)}, PLAIN).sources[0].speeds
    assert np.allclose(speeds[1:3], [4.25, 2.75])
    # packets further apart than max_gap_s give no speed between them
    speeds = KittiDataset({'root': str(kitti_root), 'max_gap_s': 0.15}, PLAIN).sources[0].speeds
    assert np.isnan(speeds).all()


def test_kitti_without_oxts_or_switched_off_has_no_speed(kitti_root):
    off = KittiDataset({'root': str(kitti_root), 'oxts_speeds': False}, PLAIN)
    assert off.sources[0].speeds is None and off.speed_sources == []
    assert torch.isnan(off[0]['distances']).all()
    shutil.rmtree(kitti_root / DRIVE / 'oxts')
    missing = KittiDataset({'root': str(kitti_root)}, PLAIN)
    assert missing.sources[0].speeds is None and missing.speed_sources == []


def test_malformed_oxts_is_an_error_naming_the_file(kitti_root):
    drive = kitti_root / DRIVE
    packet = drive / 'oxts' / 'data' / '0000000003.txt'
    packet.write_text(' '.join(['1.5'] * 29) + '\n')
    with pytest.raises(ValueError, match=r'0000000003\.txt, line 1: .*30 space-separated'):
        KittiDataset({'root': str(kitti_root)}, PLAIN)
    packet.write_text(' '.join(['1.5'] * 29 + ['x']) + '\n')
    with pytest.raises(ValueError, match=r'0000000003\.txt, line 1'):
        KittiDataset({'root': str(kitti_root)}, PLAIN)
    write_oxts(drive, [(1, 0, 0)] * 3, [0.05, 0.15])
    with pytest.raises(ValueError, match='timestamps.txt lists 2 times'):
        KittiDataset({'root': str(kitti_root)}, PLAIN)


START, STEP = 1418132462000000, 62500
"""RobotCar stereo frames: microseconds, 16 Hz."""
INS_HEADER = ('timestamp,ins_status,latitude,longitude,altitude,northing,easting,down,utm_zone,'
              'velocity_north,velocity_east,velocity_down,roll,pitch,yaw')


def write_run(root, count=5):
    """Write a RobotCar run of ``count`` flat Bayer frames; return (folder, models, times)."""
    images = torch.full((count, 3, 16, 24), 0.5)
    sequence = SimpleNamespace(images=images,
                               k_norm=normalise_intrinsics(20.0, 21.0, 11.5, 7.5, 24, 16))
    times = START + np.arange(count, dtype=np.int64) * STEP
    folder, models = write_robotcar_run(sequence, root, times)
    return folder, models, times


def write_ins(path, rows):
    """Write an SDK ins.csv of (time in microseconds, north, east, down m/s) rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f'{time},INS_SOLUTION_GOOD,51.7607,-1.2617,110.2,5735000.0,620000.0,-110.2,30U,'
             f'{north},{east},{down},0.01,-0.02,1.5' for time, north, east, down in rows]
    path.write_text('\n'.join([INS_HEADER] + lines) + '\n')


def write_vo(path, times, steps):
    """Write an SDK vo.csv: row k moves by ``steps[k]`` (x, y, z metres) from frame k to k + 1."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f'{times[k + 1]},{times[k]},{x},{y},{z},0.0,0.0,0.0'
            for k, (x, y, z) in enumerate(steps)]
    path.write_text('source_timestamp,destination_timestamp,x,y,z,roll,pitch,yaw\n' +
                    '\n'.join(rows) + '\n')


@pytest.fixture
def run(tmp_path):
    """Write a run with an INS (5, then 10 m/s, half a frame after frames 0 and 2) and a VO."""
    folder, models, times = write_run(tmp_path)
    write_ins(folder.parents[1] / 'gps' / 'ins.csv',
              [(START + STEP // 2, 3, 4, 0), (START + 5 * STEP // 2, 0, 6, 8)])
    # 8, 4 and 2 m/s between frames 0-1, 1-2, 2-3 (62.5 ms)
    write_vo(folder.parents[1] / 'vo' / 'vo.csv', times,
             [(0.3, 0.4, 0.0), (0.0, 0.0, -0.25), (0.125, 0.0, 0.0)])
    return {'folders': [str(folder)], 'models_dir': str(models)}


def robotcar_speeds(config):
    """Return the speeds and speed sources of a one-folder RobotCar dataset."""
    dataset = RobotCarDataset(config, PLAIN)
    return dataset.sources[0].speeds, dataset.speed_sources


def test_robotcar_speeds_from_the_ins(run):
    speeds, sources = robotcar_speeds(run)  # 'auto': the INS where there is one
    assert sources == ['RobotCar INS']
    assert np.allclose(speeds, [np.nan, 6.25, 8.75, np.nan, np.nan], equal_nan=True)
    sample = RobotCarDataset(run, PLAIN)[1]  # target frame 2, sources 1 and 3
    assert sample['offsets'].tolist() == [-1, 1]
    assert np.allclose(sample['distances'].numpy(), [(6.25 + 8.75) / 2 * 0.0625, np.nan],
                       equal_nan=True)
    # INS solutions further apart than max_gap_s give no speed between them
    speeds, _ = robotcar_speeds(dict(run, max_gap_s=0.1))
    assert np.isnan(speeds).all()


def test_robotcar_speeds_from_the_visual_odometry(run, tmp_path):
    speeds, sources = robotcar_speeds(dict(run, speeds='vo'))
    assert sources == ['RobotCar VO']
    # rows sit between their frames: frame 1 between 8 and 4 m/s, frame 2 between 4 and 2
    assert np.allclose(speeds, [np.nan, 6.0, 3.0, np.nan, np.nan], equal_nan=True)
    (tmp_path / '2014-12-09-13-21-02' / 'gps' / 'ins.csv').unlink()
    auto, sources = robotcar_speeds(run)
    assert sources == ['RobotCar VO'] and np.allclose(auto, speeds, equal_nan=True)


def test_robotcar_speeds_from_named_files_or_none(run, tmp_path):
    write_ins(tmp_path / 'elsewhere.csv',
              [(START, 0, 1, 0), (START + 2 * STEP, 0, 2, 0), (START + 4 * STEP, 0, 3, 0)])
    speeds, _ = robotcar_speeds(dict(run, ins_csv=str(tmp_path / 'elsewhere.csv')))
    assert np.allclose(speeds, [1.0, 1.5, 2.0, 2.5, 3.0])
    speeds, sources = robotcar_speeds(dict(run, speeds='none'))
    assert speeds is None and sources == []
    with pytest.raises(ValueError, match='one per folder'):
        RobotCarConfig(folders=run['folders'] * 2, ins_csv=[str(tmp_path / 'elsewhere.csv')])
    with pytest.raises(ValueError, match='speeds must be one of'):
        RobotCarConfig(folders=run['folders'], speeds='wheels')


def test_robotcar_missing_files(tmp_path):
    folder, models, _ = write_run(tmp_path)
    config = {'folders': [str(folder)], 'models_dir': str(models)}
    speeds, sources = robotcar_speeds(config)
    assert speeds is None and sources == []
    with pytest.raises(FileNotFoundError, match=r'gps/ins\.csv'):
        RobotCarDataset(dict(config, speeds='ins'), PLAIN)
    with pytest.raises(FileNotFoundError, match=r'vo/vo\.csv'):
        RobotCarDataset(dict(config, speeds='vo'), PLAIN)


def test_robotcar_malformed_or_foreign_ins_is_an_error(run, tmp_path):
    ins = tmp_path / '2014-12-09-13-21-02' / 'gps' / 'ins.csv'
    ins.write_text(ins.read_text().replace(',0,6,8,', ',0,six,8,'))
    with pytest.raises(ValueError, match=r'ins\.csv, line 3: expected numbers'):
        RobotCarDataset(run, PLAIN)
    ins.write_text('timestamp,latitude,longitude\n1,2,3\n')
    with pytest.raises(ValueError, match='no column velocity_north, velocity_east'):
        RobotCarDataset(run, PLAIN)
    write_ins(ins, [(START + 10 ** 9, 1, 0, 0), (START + 2 * 10 ** 9, 1, 0, 0)])
    with pytest.raises(ValueError, match='another run'):
        RobotCarDataset(run, PLAIN)
