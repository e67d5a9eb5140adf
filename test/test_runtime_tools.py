"""int8 quantisation, calibration frames, and the export and benchmark commands."""

from pathlib import Path

from defeat_ros.apps.benchmark import ARCHITECTURES, NETWORKS, run_benchmark
from defeat_ros.apps.cli import main
from defeat_ros.nets import ModelConfig, save_model
from defeat_ros.runtime.calibration import calibration_frames
from defeat_ros.runtime.onnx_export import check_onnx, int8_path
from defeat_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from defeat_ros.runtime.openvino_backend import OpenVinoBackend
from defeat_ros.runtime.quantise import quantise_onnx
from defeat_ros.trainer.config import TrainConfig
import numpy as np
import pytest
import torch
from untrained import untrained_model

CONFIG = ModelConfig(feature_dims=8, height=64, width=96, encoder_width=16)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def model_dir(tmp_path):
    torch.manual_seed(0)
    return save_model(untrained_model(CONFIG), tmp_path / 'model')


def test_export_int8_command_writes_graphs_that_match_fp32(model_dir, capsys):
    for make in (OnnxRuntimeBackend, OpenVinoBackend):
        with pytest.raises(FileNotFoundError, match='quantise the model first'):
            make(model_dir, precision='int8')
    assert main(['export', str(model_dir), '--int8', '--calibration-frames', '4']) == 0
    printed = capsys.readouterr().out
    for graph in ('depth', 'features', 'depth_features', 'pose'):
        for int8_format in ('qoperator', 'openvino'):
            assert int8_path(model_dir, graph, int8_format).is_file()
            assert f'{graph} (int8, {int8_format})' in printed
    fp32 = OnnxRuntimeBackend(model_dir)
    image = calibration_frames(model_dir, 2)[1]
    depth = fp32.depth(image)
    for int8 in (OnnxRuntimeBackend(model_dir, precision='int8'),
                 OpenVinoBackend(model_dir, precision='int8')):
        assert ((int8.depth(image) - depth).abs() / depth).median() < 0.02, int8.name
        cosine = torch.nn.functional.cosine_similarity(int8.features(image),
                                                       fp32.features(image), dim=1)
        assert cosine.median() > 0.95, int8.name
    save_model(untrained_model(CONFIG), model_dir)  # new weights: the int8 graphs are stale
    for make in (OnnxRuntimeBackend, OpenVinoBackend):
        with pytest.raises(ValueError, match='other weights .* quantise the model again'):
            make(model_dir, precision='int8')
    with pytest.raises(ValueError, match="'fp32' or 'int8'"):
        OnnxRuntimeBackend(model_dir, precision='fp16')


def test_int8_keeps_the_depth_mapping_in_float_and_refuses_older_files(model_dir):
    """Depth is not rounded to 256 levels, and a file from the older quantiser is stale."""
    import onnx
    import onnxruntime
    frames = calibration_frames(model_dir, 4)
    for int8_format in ('qoperator', 'openvino'):
        path = quantise_onnx(model_dir, frames, ('depth',), int8_format)['depth']
        session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
        depth = session.run(None, {'image': frames[1].numpy()})[0]
        assert np.unique(depth).size > 1000, int8_format
        proto = onnx.load(str(path))
        del proto.metadata_props[[p.key for p in proto.metadata_props].index('int8_version')]
        onnx.save(proto, str(path))
        with pytest.raises(ValueError, match='quantised by another version'):
            check_onnx(path, CONFIG, model_dir)


def test_int8_leaves_the_first_layers_of_each_encoder_in_float(model_dir):
    import onnx
    frames = calibration_frames(model_dir, 2)
    path = quantise_onnx(model_dir, frames, ('depth_features',))['depth_features']
    nodes = onnx.load(str(path)).graph.node
    float_convs = {node.name for node in nodes if node.op_type == 'Conv'}
    head = {f'{net}/encoder/{layer}/Conv' for net in ('', '/feat_net')
            for layer in ('stem/stem.0', 'layers.0/layers.0.0/conv1')}
    assert head <= float_convs
    assert '/encoder/layers.0/layers.0.0/conv2/Conv' not in float_convs
    assert sum(node.op_type == 'QLinearConv' for node in nodes) > 2 * len(float_convs)


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
    assert len(rows) == 3 * len(NETWORKS)
    assert all('1.00x' in row for row in rows if '| pytorch-fp32 |' in row)
    assert main(['benchmark', '--backends', 'tflite']) == 2
    assert 'unknown backends' in capsys.readouterr().err
    assert main(['benchmark', '--architectures', 'defeat,tiny']) == 2
    assert 'unknown architectures' in capsys.readouterr().err


def test_benchmark_rows_compare_architectures_against_defeat_net():
    """Each architecture is its own row group; speed-ups divide DeFeat-Net's fp32 eager time."""
    results = run_benchmark([(64, 128)], names=('pytorch-fp32', 'onnxruntime-int8-concurrent'),
                            architectures=('defeat', 'fast'), repeats=1, warmup=0,
                            log=lambda text: None, base=CONFIG)
    assert len(results) == 2 * 2 * len(NETWORKS)
    rows = {(r['architecture'], r['backend'], r['network']): r for r in results}
    for network in NETWORKS:
        reference = rows['defeat', 'pytorch-fp32', network]
        assert reference['speedup'] == 1.0
        for key, row in rows.items():
            if key[2] == network:
                assert row['speedup'] == pytest.approx(reference['p50_ms'] / row['p50_ms'])
    fast = rows['fast', 'onnxruntime-int8-concurrent', 'pipeline']
    expected = fast['abs_rel'] / rows['fast', 'pytorch-fp32', 'pipeline']['abs_rel'] - 1
    assert fast['abs_rel_change'] == pytest.approx(expected)
    assert 0.5 < fast['auc'] <= 1.0 and 0.0 < fast['abs_rel'] < 1.0


def test_the_fast_architecture_is_the_training_variant():
    variant = TrainConfig.from_yaml(REPO / 'config' / 'train' / 'variant_fast.yaml').model
    assert {key: getattr(variant, key) for key in ARCHITECTURES['fast']} == \
        ARCHITECTURES['fast']
