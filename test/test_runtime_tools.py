"""int8 quantisation, calibration frames, and the export and benchmark commands."""

from defeat_ros.apps.cli import main
from defeat_ros.nets import DeFeatNet, ModelConfig, save_model
from defeat_ros.runtime.calibration import calibration_frames
from defeat_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from defeat_ros.runtime.quantise import int8_path
import numpy as np
import pytest
import torch

CONFIG = ModelConfig(feature_dims=8, height=64, width=96, encoder_width=16)


@pytest.fixture
def model_dir(tmp_path):
    torch.manual_seed(0)
    return save_model(DeFeatNet(CONFIG), tmp_path / 'model')


def test_export_int8_command_writes_graphs_that_match_fp32(model_dir, capsys):
    with pytest.raises(FileNotFoundError, match='quantise the model first'):
        OnnxRuntimeBackend(model_dir, precision='int8')
    assert main(['export', str(model_dir), '--int8', '--calibration-frames', '4']) == 0
    for graph in ('depth', 'features', 'pose'):
        assert int8_path(model_dir, graph).is_file()
    assert 'pose (int8)' in capsys.readouterr().out
    fp32 = OnnxRuntimeBackend(model_dir)
    int8 = OnnxRuntimeBackend(model_dir, precision='int8')
    image = calibration_frames(model_dir, 2)[1]
    depth = fp32.depth(image)
    assert ((int8.depth(image) - depth).abs() / depth).median() < 0.02
    cosine = torch.nn.functional.cosine_similarity(int8.features(image), fp32.features(image),
                                                   dim=1)
    assert cosine.median() > 0.95
    with pytest.raises(ValueError, match="'fp32' or 'int8'"):
        OnnxRuntimeBackend(model_dir, precision='fp16')


def test_calibration_frames_from_a_folder_of_images(model_dir, tmp_path):
    import cv2
    folder = tmp_path / 'images'
    folder.mkdir()
    for i in range(6):
        cv2.imwrite(str(folder / f'{i:03d}.png'), np.full((120, 200, 3), 40 * i, np.uint8))
    frames = calibration_frames(model_dir, 3, folder)
    assert len(frames) == 3 and frames[0].shape == (1, 3, 64, 96)
    assert frames[0].max() == 0 and frames[1].mean() > 0
    (folder / 'broken.png').write_bytes(b'not a png')
    with pytest.raises(ValueError, match='not a readable image'):
        calibration_frames(model_dir, 7, folder)
    with pytest.raises(FileNotFoundError, match='no images in'):
        calibration_frames(model_dir, 3, tmp_path / 'model')


def test_benchmark_command_prints_every_backend_and_network(model_dir, capsys):
    assert main(['benchmark', '--model', str(model_dir), '--repeats', '1',
                 '--backends', 'pytorch-fp32,onnxruntime,onnxruntime-int8']) == 0
    out = capsys.readouterr().out
    assert 'machine:' in out
    rows = [line for line in out.splitlines() if line.startswith('| 96x64')]
    assert len(rows) == 3 * 4
    assert all('1.00x' in row for row in rows if '| pytorch-fp32 |' in row)
    assert main(['benchmark', '--backends', 'tflite']) == 2
    assert 'unknown backends' in capsys.readouterr().err
