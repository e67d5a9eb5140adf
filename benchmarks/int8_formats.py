#!/usr/bin/env python3
"""
ONNX Runtime int8 formats side by side: QOperator against QDQ, per-channel against per-tensor.

    .venv/bin/python benchmarks/int8_formats.py --architectures defeat,fast --repeats 20

For each architecture (``defeat-ros benchmark``'s ARCHITECTURES, fresh paper-size networks at
640x192) the graphs are quantised in every format from the same calibration frames and timed
on a camera step (depth, features and pose, the pose beside depth as the node runs it) in
rounds that take the formats in turn, so slow drifts of a shared machine reach all of them
alike. Printed: p50 per format, its speed-up over ONNX Runtime fp32 of the same architecture
in the same run, and its depth deviation from fp32 (median relative, synthetic street frames).
"""

import argparse
from dataclasses import replace
import shutil
import tempfile
import time

from defeat_ros.apps.benchmark import ARCHITECTURES, machine
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.nets import DeFeatNet, ModelConfig, save_model
from defeat_ros.runtime.calibration import calibration_frames
from defeat_ros.runtime.onnx_export import export_onnx
from defeat_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from defeat_ros.runtime.quantise import ONNXRUNTIME_FORMATS, quantise_onnx
import numpy as np
import torch

FORMATS = [(name, per_channel) for name in ONNXRUNTIME_FORMATS
           for per_channel in (True, False)]


def format_name(int8_format, per_channel):
    """'qoperator per-channel' and the like."""
    return f"{int8_format} per-{'channel' if per_channel else 'tensor'}"


def backends(architecture, folder, frames):
    """{row name: ONNX Runtime backend} of one fresh model: fp32 and every int8 format."""
    torch.manual_seed(0)
    model_dir = save_model(DeFeatNet(replace(ModelConfig(), **ARCHITECTURES[architecture])),
                           f'{folder}/{architecture}')
    export_onnx(model_dir)
    opened = {'fp32': OnnxRuntimeBackend(model_dir, concurrent_pose=True)}
    for int8_format, per_channel in FORMATS:
        copy = shutil.copytree(model_dir, f'{folder}/{architecture}-{int8_format}-{per_channel}')
        quantise_onnx(copy, frames, int8_format=int8_format, per_channel=per_channel)
        opened[format_name(int8_format, per_channel)] = OnnxRuntimeBackend(
            copy, precision='int8', concurrent_pose=True)
    return opened


def main():
    """Measure every format per architecture and print one table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--architectures', default='defeat,fast')
    parser.add_argument('--repeats', type=int, default=20, help='rounds of timed steps')
    args = parser.parse_args()
    print(f'machine: {machine()}')
    config = ModelConfig()
    street = render_sequence(WorldConfig(width=config.width, height=config.height, frames=4,
                                         seed=11))
    frame, previous = street.images[1:2], street.images[0:1]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        save_model(DeFeatNet(config), f'{folder}/calibration')
        frames = calibration_frames(f'{folder}/calibration')
        for architecture in args.architectures.split(','):
            opened = backends(architecture, folder, frames)
            times = {name: [] for name in opened}
            for _ in range(args.repeats + 2):
                for name, backend in opened.items():
                    start = time.perf_counter()
                    backend.step(frame, previous, features=True)
                    times[name].append(time.perf_counter() - start)
            reference = opened['fp32'].depth(frame)
            base = np.median(times['fp32'][2:])
            for name, backend in opened.items():
                p50 = np.median(times[name][2:])
                deviation = ((backend.depth(frame) - reference).abs() / reference).median()
                rows.append(f'| {architecture} | {name} | {1e3 * p50:.1f} | {base / p50:.2f}x '
                            f'| {100 * deviation:.2f}% |')
    print('camera step (depth, features, pose beside them), 640x192, ONNX Runtime')
    print('| architecture | graphs | p50 ms | vs fp32 | depth deviation |')
    print('| --- | --- | --- | --- | --- |')
    print('\n'.join(rows))


if __name__ == '__main__':
    main()
