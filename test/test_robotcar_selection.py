"""RobotCar: frames of a standing car dropped (vo.csv, image difference), 'auto' undistortion."""

from pathlib import Path
from types import SimpleNamespace

import cv2
from data_layouts import write_robotcar_run
from defeat_ros.data.image_ops import Crop
from defeat_ros.data.robotcar import RobotCarConfig, RobotCarDataset
from defeat_ros.data.robotcar_vo import read_vo_positions
from defeat_ros.geometry import normalise_intrinsics
from defeat_ros.trainer.config import TrainConfig
import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
HEIGHT, WIDTH = 16, 24
FX, FY, CX, CY = 20.0, 21.0, 11.5, 7.5
PLAIN = {'height': HEIGHT, 'width': WIDTH, 'augment': {'enabled': False}}
START = 1418132462000000
STEP = 62500
"""Stereo frames 62.5 ms apart (16 Hz), in microseconds."""


def colour(number):
    """Return the flat RGB uint8 value that frames of shade ``number`` have."""
    return np.array([10 + 20 * number, 240 - 20 * number, 100], dtype=np.uint8)


def write_run(root, numbers):
    """
    Write a RobotCar run of flat Bayer frames, frame k of colour ``numbers[k]``, at 16 Hz.

    :return: (image folder, models folder, F int64 times in microseconds).
    """
    rgb = np.stack([np.broadcast_to(colour(n), (HEIGHT, WIDTH, 3)) for n in numbers])
    sequence = SimpleNamespace(
        images=torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255.0,
        k_norm=normalise_intrinsics(FX, FY, CX, CY, WIDTH, HEIGHT))
    times = START + np.arange(len(numbers), dtype=np.int64) * STEP
    folder, models = write_robotcar_run(sequence, root, times)
    return folder, models, times


def write_vo(path, times, steps, yaws=None):
    """Write an SDK vo.csv: row k moves ``steps[k]`` metres along x from frame k to k + 1."""
    path.parent.mkdir(parents=True, exist_ok=True)
    yaws = np.zeros(len(steps)) if yaws is None else yaws
    rows = [f'{times[k + 1]},{times[k]},{step:.6f},0.000100,-0.000200,0.0,0.0,{yaw:.6f}'
            for k, (step, yaw) in enumerate(zip(steps, yaws))]
    path.write_text('source_timestamp,destination_timestamp,x,y,z,roll,pitch,yaw\n' +
                    '\n'.join(rows) + '\n')


def frame_colour(frame):
    """Return the colour (0..255) of the centre of a 3 x H x W frame in [0, 1]."""
    return (frame[:, HEIGHT // 2, WIDTH // 2] * 255).round().to(torch.uint8).numpy()


def test_vo_positions_chain_relative_poses_as_the_sdk(tmp_path):
    times = START + np.arange(3) * STEP
    write_vo(tmp_path / 'vo.csv', times, [1.0, 1.0], yaws=[np.pi / 2, 0.0])
    stamps, positions = read_vo_positions(tmp_path / 'vo.csv')
    assert stamps.tolist() == times.tolist()
    # abs_k = abs_(k-1) * rel_k: the second step is along the first step's turned x axis
    assert np.allclose(positions, [[0, 0, 0], [1.0, 1e-4, -2e-4], [1.0 - 1e-4, 1.0 + 1e-4, -4e-4]])


def test_vo_drops_exactly_the_frames_of_a_standing_car(tmp_path):
    folder, models, times = write_run(tmp_path, range(10))
    steps = [0.5, 0.5, 0.5, 0.002, -0.001, 0.002, 0.5, 0.5, 0.5]  # frames 4-6: standing still
    write_vo(folder.parents[1] / 'vo' / 'vo.csv', times, steps)
    config = {'folders': [str(folder)], 'models_dir': str(models), 'stationary': 'auto'}
    dataset = RobotCarDataset(config, PLAIN)
    kept = [0, 1, 2, 3, 7, 8, 9]
    assert dataset.sources[0].times.tolist() == times[kept].tolist()
    # the 0.25 s from frame 3 to frame 7 is a gap: no sample spans the wait
    assert [dataset[i]['name'] for i in range(len(dataset))] == \
        [f'{folder} {times[k]}' for k in (1, 2, 8)]
    spanning = RobotCarDataset(dict(config, max_gap_s=0.0), PLAIN)
    assert spanning.target_frame.tolist() == [1, 2, 3, 4, 5]
    item = spanning[3]  # target frame 7: its neighbours are the kept frames 3 and 8
    assert item['name'] == f'{folder} {times[7]}'
    assert [frame_colour(f).tolist() for f in [item['target'], *item['sources']]] == \
        [colour(n).tolist() for n in (7, 3, 8)]
    everything = RobotCarDataset(dict(config, stationary='off'), PLAIN)
    assert len(everything.sources[0].times) == 10
    # a vo.csv named per folder; frames after its last row have no motion: dropped
    write_vo(tmp_path / 'short.csv', times[:9], steps[:8])
    short = RobotCarDataset(dict(config, vo_csv=[str(tmp_path / 'short.csv')]), PLAIN)
    assert short.sources[0].times.tolist() == times[[0, 1, 2, 3, 7, 8]].tolist()


def test_vo_keeps_a_crawl_by_the_distance_to_the_last_kept_frame(tmp_path):
    folder, models, times = write_run(tmp_path, range(10))
    write_vo(folder.parents[1] / 'vo' / 'vo.csv', times, [0.04] * 9)  # 0.64 m/s
    dataset = RobotCarDataset({'folders': [str(folder)], 'models_dir': str(models),
                               'stationary': 'vo'}, PLAIN)
    assert dataset.sources[0].times.tolist() == times[[0, 3, 6, 9]].tolist()
    item = dataset[0]  # kept frames 187.5 ms apart: within max_gap_s, one sequence
    assert [frame_colour(f).tolist() for f in [item['target'], *item['sources']]] == \
        [colour(n).tolist() for n in (3, 0, 6)]
    assert len(dataset) == 2


def test_vo_of_another_run_or_a_missing_one_is_an_error(tmp_path):
    folder, models, times = write_run(tmp_path, range(4))
    config = {'folders': [str(folder)], 'models_dir': str(models), 'stationary': 'vo'}
    with pytest.raises(FileNotFoundError, match='vo.csv'):
        RobotCarDataset(config, PLAIN)
    write_vo(tmp_path / 'other.csv', times + 10 ** 9, [0.5] * 3)
    with pytest.raises(ValueError, match='another run'):
        RobotCarDataset(dict(config, vo_csv=str(tmp_path / 'other.csv')), PLAIN)
    with pytest.raises(ValueError, match='one per folder'):
        RobotCarConfig(folders=[str(folder)] * 2, vo_csv=[str(tmp_path / 'other.csv')])


@pytest.mark.parametrize('stationary', ['auto', 'image'])
def test_image_difference_drops_repeated_frames(tmp_path, stationary):
    folder, models, times = write_run(tmp_path, [0, 1, 1, 1, 2, 3, 3, 4])
    config = {'folders': [str(folder)], 'models_dir': str(models), 'stationary': stationary,
              'max_gap_s': 0.0}
    dataset = RobotCarDataset(config, PLAIN)  # no vo.csv: 'auto' falls back to the images
    kept = [0, 1, 4, 5, 7]
    assert dataset.sources[0].times.tolist() == times[kept].tolist()
    item = dataset[1]  # target frame 4 between the kept frames 1 and 5
    assert [frame_colour(f).tolist() for f in [item['target'], *item['sources']]] == \
        [colour(n).tolist() for n in (2, 1, 3)]
    assert len(RobotCarDataset(dict(config, stationary='off'), PLAIN).sources[0].times) == 8


def write_colour_frames(root, lut_size):
    """Write a stereo centre folder of 3-channel frames and SDK models with a table of a size."""
    folder = root / 'run' / 'stereo' / 'centre'
    folder.mkdir(parents=True)
    for number in range(3):
        rgb = np.broadcast_to(colour(number), (HEIGHT, WIDTH, 3))
        cv2.imwrite(str(folder / f'{START + number * STEP}.png'),
                    cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    (root / 'stereo_narrow_left.txt').write_text(f'{FX} {FY} {CX} {CY}\n')
    height, width = lut_size
    columns, rows = np.meshgrid(np.arange(width, dtype=np.float64),
                                np.arange(height, dtype=np.float64))
    np.concatenate([columns.reshape(-1), rows.reshape(-1)]).tofile(
        root / 'stereo_narrow_left_distortion_lut.bin')
    return {'folders': [str(folder)], 'models_dir': str(root)}


def test_auto_undistortion_refuses_three_channel_frames_of_the_table_size(tmp_path):
    config = write_colour_frames(tmp_path, (HEIGHT, WIDTH))
    with pytest.raises(ValueError, match="fits their 24x16 size.*'always'.*'never'"):
        RobotCarDataset(config, PLAIN)
    for mode, undistorted in (('never', False), ('always', True)):
        dataset = RobotCarDataset(dict(config, undistort=mode), PLAIN)
        assert (dataset.sources[0].maps is not None) == undistorted
        assert frame_colour(dataset[0]['target']).tolist() == colour(1).tolist()


def test_auto_undistortion_refuses_three_channel_frames_of_another_size(tmp_path):
    config = write_colour_frames(tmp_path, (2 * HEIGHT, 2 * WIDTH))
    with pytest.raises(ValueError, match='is for 1536 pixels.*resized or cropped'):
        RobotCarDataset(config, PLAIN)
    assert RobotCarDataset(dict(config, undistort='never'), PLAIN).sources[0].maps is None
    (tmp_path / 'stereo_narrow_left_distortion_lut.bin').unlink()
    with pytest.raises(ValueError, match='no SDK table'):
        RobotCarDataset(config, PLAIN)


def test_auto_undistortion_undistorts_raw_bayer_frames(tmp_path):
    folder, models, _ = write_run(tmp_path, range(3))
    dataset = RobotCarDataset({'folders': [str(folder)], 'models_dir': str(models)}, PLAIN)
    assert dataset.sources[0].maps is not None


def test_shipped_config_crops_the_bonnet_and_drops_a_standing_car(tmp_path):
    config = TrainConfig.from_yaml(REPO / 'config' / 'train' / 'robotcar_defeat.yaml')
    source = RobotCarConfig.from_dict(config.data.source)
    assert (config.model.height, config.model.width) == (352, 480)
    assert source.crop == [0, 160, 0, 0]
    assert Crop.from_list(source.crop).apply(np.zeros((960, 1280, 3))).shape == (800, 1280, 3)
    assert (source.stationary, source.min_motion_m, source.undistort) == ('auto', 0.1, 'auto')
    # the shipped settings on raw frames of the centre camera's size, 1280 x 960
    levels = np.array([0, 40, 40, 80], np.uint8)  # frame 2 repeats frame 1
    rgb = np.zeros((4, 960, 1280, 3), np.uint8) + levels[:, None, None, None]
    sequence = SimpleNamespace(images=torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255,
                               k_norm=normalise_intrinsics(983.0, 983.0, 643.6, 493.4, 1280, 960))
    folder, models = write_robotcar_run(sequence, tmp_path, START + np.arange(4) * STEP)
    shipped = dict(config.data.source, folders=[str(folder)], models_dir=str(models))
    sample = {'height': config.model.height, 'width': config.model.width,
              'augment': {'enabled': False}}
    dataset = RobotCarDataset(shipped, sample)
    assert len(dataset.sources[0].times) == 3  # the repeated frame is dropped
    item = dataset[0]
    assert item['target'].shape == (3, 352, 480)
    assert torch.allclose(item['k_norm'],
                          normalise_intrinsics(983.0, 983.0, 643.6, 493.4, 1280, 800), atol=1e-6)
