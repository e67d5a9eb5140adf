#!/usr/bin/env python3
"""
Every GPU backend and precision on one model: parity with fp32, a robot standing still, speed.

    .venv/bin/python benchmarks/gpu_smoke.py                     # models/default on cuda:0
    .venv/bin/python benchmarks/gpu_smoke.py --model MODEL_DIR --device cuda:1

Rows on a GPU: PyTorch CUDA fp32 (the reference; TF32 off), fp16, fp16 with CUDA graphs, and,
when TensorRT is installed, TensorRT fp32, fp16 and int8 (calibrated on synthetic street frames
by day and night). ``--device cpu`` runs the same checks on the CPU backends.

Per row, on synthetic street frames at the model's resolution, by day and at night: a camera
step's p50 latency (depth, features and pose) and its speed-up over the reference, the largest
relative depth deviation, the smallest feature cosine similarity, the largest deviation of the
pose matrix, and the pose of two identical frames (a robot standing still: finite, and its
deviation). A row fails when an output is not finite or a deviation passes its precision's
tolerance (TOLERANCES); the script exits 1 when a row fails or a backend cannot start.
"""

import argparse
import sys
import time
import traceback

from defeat_ros.apps.benchmark import INT8_FORMAT_OF
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.nets.model_dir import read_config
from defeat_ros.runtime.backends import device_description, make_backend
from defeat_ros.runtime.calibration import calibration_frames
from defeat_ros.runtime.quantise import quantise_onnx
import numpy as np
import torch
import torch.nn.functional as F

GPU_ROWS = {
    'pytorch-cuda-fp32': ('pytorch', 'fp32', {}),
    'pytorch-cuda-fp16': ('pytorch', 'fp16', {}),
    'pytorch-cuda-fp16-graphs': ('pytorch', 'fp16', {'cuda_graphs': True}),
    'tensorrt-fp32': ('tensorrt', 'fp32', {}),
    'tensorrt-fp16': ('tensorrt', 'fp16', {}),
    'tensorrt-int8': ('tensorrt', 'int8', {}),
}
CPU_ROWS = {
    'pytorch-fp32': ('pytorch', 'fp32', {}),
    'pytorch-bf16': ('pytorch', 'bf16', {}),
    'onnxruntime': ('onnxruntime', 'fp32', {}),
    'onnxruntime-int8': ('onnxruntime', 'int8', {}),
    'openvino': ('openvino', 'fp32', {}),
    'openvino-bf16': ('openvino', 'bf16', {}),
    'openvino-int8': ('openvino', 'int8', {}),
}
"""Row name -> (backend, precision, other make_backend arguments); the first is the reference."""
TOLERANCES = {'fp32': (1e-3, 0.9999, 1e-4), 'fp16': (0.05, 0.995, 2e-3),
              'bf16': (0.1, 0.99, 5e-3), 'int8': (0.3, 0.9, 0.05)}
"""Precision -> (largest relative depth deviation, smallest feature cosine, largest pose
deviation) a row may show against the fp32 reference."""


def street_frames(model_dir):
    """Frames 1 x 3 x H x W at the model's resolution: two by day, two at night."""
    config = read_config(model_dir)
    frames = []
    for night in (False, True):
        world = WorldConfig(width=config.width, height=config.height, frames=2, seed=21,
                            night=night)
        frames += [image.unsqueeze(0) for image in render_sequence(world).images]
    return frames


def open_backend(model_dir, row, device):
    """Make the backend of ``row`` (int8 graphs are calibrated first)."""
    backend, precision, options = {**GPU_ROWS, **CPU_ROWS}[row]
    if backend == 'tensorrt':
        from defeat_ros.runtime.tensorrt_engine import TensorRTBackend
        frames = calibration_frames(model_dir) if precision == 'int8' else None
        return TensorRTBackend(model_dir, precision=precision, device=device,
                               calibration_frames=frames)
    if precision == 'int8':
        quantise_onnx(model_dir, calibration_frames(model_dir),
                      int8_format=INT8_FORMAT_OF[backend])
    return make_backend(model_dir, backend=backend, device=device, precision=precision,
                        **options)


def outputs(backend, frames):
    """Per consecutive pair: (depth, features, pose, pose of the frame with itself), on the CPU."""
    results = []
    for previous, image in zip(frames[::2], frames[1::2]):
        depth, features, pose = backend.step(image, previous, features=True)
        still = backend.pose(image, image)
        results.append([t.float().cpu() for t in (depth, features, pose, still)])
    return results


def step_latency(backend, frames, repeats):
    """Median seconds of a camera step after two untimed ones (GPU work included)."""
    synchronise = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    times = []
    for index in range(repeats + 2):
        synchronise()
        start = time.perf_counter()
        backend.step(frames[1], frames[0], features=True)
        synchronise()
        if index >= 2:
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def compare(got, reference, precision):
    """Return the row's deviations from the reference and whether they pass."""
    depth_tol, cosine_tol, pose_tol = TOLERANCES[precision]
    row = {'depth': 0.0, 'cosine': 1.0, 'pose': 0.0, 'still': 0.0, 'finite': True}
    for (depth, features, pose, still), (r_depth, r_features, r_pose, r_still) in zip(
            got, reference):
        row['finite'] &= all(bool(t.isfinite().all()) for t in (depth, features, pose, still))
        row['depth'] = max(row['depth'], float(((depth - r_depth).abs() / r_depth).max()))
        row['cosine'] = min(row['cosine'],
                            float(F.cosine_similarity(features, r_features, dim=1).min()))
        row['pose'] = max(row['pose'], float((pose - r_pose).abs().max()))
        row['still'] = max(row['still'], float((still - r_still).abs().max()))
    row['passed'] = (row['finite'] and row['depth'] <= depth_tol and row['cosine'] >= cosine_tol
                     and max(row['pose'], row['still']) <= pose_tol)
    return row


def smoke(model_dir, device, rows, repeats):
    """
    Run every row; the first is the reference.

    :return: list of row dictionaries (name, precision, seconds, deviations, passed, error).
    """
    if device.startswith('cuda'):
        torch.backends.cuda.matmul.allow_tf32 = False  # the reference is true fp32
        torch.backends.cudnn.allow_tf32 = False
    frames = street_frames(model_dir)
    reference, results = None, []
    for name in rows:
        precision = {**GPU_ROWS, **CPU_ROWS}[name][1]
        try:
            backend = open_backend(model_dir, name, device)
            got = outputs(backend, frames)
            seconds = step_latency(backend, frames, repeats)
        except Exception as error:  # a backend that cannot start is a failed row, not a crash
            traceback.print_exc()
            results.append({'name': name, 'precision': precision, 'passed': False,
                            'error': f'{type(error).__name__}: {error}'})
            continue
        reference = reference or got
        results.append({'name': name, 'precision': precision, 'seconds': seconds,
                        **compare(got, reference, precision)})
    return results


def table(results):
    """Format ``results`` with speed-ups over the first row."""
    base = results[0].get('seconds')
    lines = [f'{"backend":26} {"step ms":>8} {"speed-up":>8} {"depth dev":>9} {"cosine":>7} '
             f'{"pose dev":>9} {"still dev":>9}  result']
    for row in results:
        if 'error' in row:
            lines.append(f'{row["name"]:26} FAILED to start: {row["error"]}')
            continue
        ratio = f'{base / row["seconds"]:.2f}x' if base else '-'
        lines.append(f'{row["name"]:26} {1e3 * row["seconds"]:8.2f} {ratio:>8} '
                     f'{row["depth"]:9.2e} {row["cosine"]:7.4f} {row["pose"]:9.2e} '
                     f'{row["still"]:9.2e}  '
                     f'{"pass" if row["passed"] else "FAIL"}{"" if row["finite"] else " (NaN)"}')
    return '\n'.join(lines)


def main(argv=None):
    """Parse the arguments, run the rows, print the table; exit 1 when a row failed."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default='models/default', help='model directory')
    parser.add_argument('--device', default='cuda:0', help="'cuda:N' or 'cpu'")
    parser.add_argument('--rows', default='', help='comma-separated rows; default: all for the '
                        f'device ({", ".join(GPU_ROWS)}; on the CPU {", ".join(CPU_ROWS)})')
    parser.add_argument('--repeats', type=int, default=50, help='timed steps per row')
    args = parser.parse_args(argv)
    rows = [r for r in args.rows.split(',') if r] or list(
        GPU_ROWS if args.device.startswith('cuda') else CPU_ROWS)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        parser.error('no CUDA device here (torch.cuda.is_available() is False); '
                     'use --device cpu for the CPU rows')
    results = smoke(args.model, args.device, rows, args.repeats)
    config = read_config(args.model)
    print(f'model {args.model} ({config.width}x{config.height}) on '
          f'{device_description(args)}, torch {torch.__version__}')  # reads args.device
    print(table(results))
    return 0 if all(row['passed'] for row in results) else 1


if __name__ == '__main__':
    sys.exit(main())
