"""
Latency of every backend side by side, with PyTorch fp32 eager as the denominator of each ratio.

Speed is measured, never asserted in tests: ``defeat-ros benchmark`` prints p50/p99 latency and
frames/s per backend, network and resolution, the speed-up over PyTorch fp32 eager measured in
the same run, and the accuracy each fast path costs on synthetic frames with exact depth.
"""

from dataclasses import dataclass
import os
import re
import tempfile
import time

from defeat_ros.apps.arguments import add_options, config_from_args
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.evaluation import depth_metrics
from defeat_ros.nets import DeFeatNet, ModelConfig, save_model
from defeat_ros.nets.model_dir import read_config
from defeat_ros.runtime.backends import cpu_model, make_backend
from defeat_ros.runtime.calibration import calibration_frames
from defeat_ros.runtime.quantise import quantise_onnx
from defeat_ros.typed_config import comma_list, option, TypedConfig
import numpy as np
import onnxruntime
import torch

BACKENDS = {
    'pytorch-fp32': {'backend': 'pytorch', 'device': 'cpu', 'precision': 'fp32'},
    'pytorch-bf16': {'backend': 'pytorch', 'device': 'cpu', 'precision': 'bf16'},
    'onnxruntime': {'backend': 'onnxruntime', 'precision': 'fp32'},
    'onnxruntime-int8': {'backend': 'onnxruntime', 'precision': 'int8'},
    'pytorch-cuda-fp32': {'backend': 'pytorch', 'device': 'cuda', 'precision': 'fp32'},
    'pytorch-cuda-fp16': {'backend': 'pytorch', 'device': 'cuda', 'precision': 'fp16'},
    'pytorch-cuda-fp16-graphs': {'backend': 'pytorch', 'device': 'cuda', 'precision': 'fp16',
                                 'cuda_graphs': True},
    'tensorrt-fp16': {'backend': 'tensorrt', 'device': 'cuda', 'precision': 'fp16'},
}
"""Benchmark name -> make_backend arguments."""
CPU_DEFAULT = ('pytorch-fp32', 'pytorch-bf16', 'onnxruntime', 'onnxruntime-int8')
GPU_DEFAULT = ('pytorch-cuda-fp32', 'pytorch-cuda-fp16', 'pytorch-cuda-fp16-graphs')
"""Default lists; the first of each is the fp32 eager reference of every ratio."""
NETWORKS = ('depth', 'features', 'pose', 'pipeline')


def machine():
    """One line naming the CPU, cores and library versions."""
    return (f'{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} '
            f'({torch.get_num_threads()} threads), onnxruntime {onnxruntime.__version__}')


def latencies(call, repeats, warmup):
    """Seconds of ``repeats`` calls after ``warmup`` untimed ones (GPU work included)."""
    synchronise = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        synchronise()
        start = time.perf_counter()
        call()
        synchronise()
        times.append(time.perf_counter() - start)
    return np.array(times)


def network_calls(backend, frame, other):
    """Map each network name to a timed call: each graph alone and the whole pipeline."""
    return {
        'depth': lambda: backend.depth(frame),
        'features': lambda: backend.features(frame),
        'pose': lambda: backend.pose(other, frame),
        'pipeline': lambda: (backend.depth(frame), backend.features(frame),
                             backend.pose(other, frame)),
    }


def accuracy(backend, reference, frames, truth):
    """Median relative depth deviation from the reference and median-scaled AbsRel vs truth."""
    deviation, abs_rel = [], []
    for frame, depth in zip(frames, truth):
        predicted = backend.depth(frame).cpu()
        expected = reference.depth(frame).cpu()
        deviation.append(((predicted - expected).abs() / expected).median().item())
        abs_rel.append(depth_metrics(predicted[0], depth)['abs_rel'])
    return float(np.mean(deviation)), float(np.mean(abs_rel))


def benchmark_model(model_dir, names=CPU_DEFAULT, repeats=10, warmup=3, threads=0):
    """
    Measure ``names`` on one model directory; returns a list of result dictionaries.

    Frames come from the synthetic street at the model's resolution, so accuracy is reported
    against exact depth; int8 is calibrated on other street frames, by day and by night.
    """
    config = read_config(model_dir)
    day = render_sequence(WorldConfig(width=config.width, height=config.height, frames=6,
                                      seed=11))
    frames = [image.unsqueeze(0) for image in day.images]
    if 'onnxruntime-int8' in names:
        quantise_onnx(model_dir, calibration_frames(model_dir))
    backends = {name: make_backend(model_dir, threads=threads, **BACKENDS[name])
                for name in names}
    reference = backends[names[0]]
    results = []
    for name, backend in backends.items():
        deviation, abs_rel = accuracy(backend, reference, frames, day.depths)
        for network, call in network_calls(backend, frames[1], frames[0]).items():
            times = latencies(call, repeats, warmup)
            results.append({'resolution': f'{config.width}x{config.height}', 'backend': name,
                            'network': network, 'p50_ms': 1e3 * np.percentile(times, 50),
                            'p99_ms': 1e3 * np.percentile(times, 99), 'fps': 1 / times.mean(),
                            'depth_deviation': deviation, 'abs_rel': abs_rel})
    for result in results:
        base = next(r for r in results if r['backend'] == names[0]
                    and r['network'] == result['network'])
        result['speedup'] = base['p50_ms'] / result['p50_ms']
    return results


def run_benchmark(resolutions=((192, 640), (352, 480)), model_dir=None, names=CPU_DEFAULT,
                  repeats=10, warmup=3, threads=0, log=print):
    """Benchmark a model (or a freshly initialised one per resolution) and print the table."""
    log(f'machine: {machine()}')
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        if model_dir is not None:
            results += benchmark_model(model_dir, names, repeats, warmup, threads)
        else:
            for height, width in resolutions:
                torch.manual_seed(0)
                directory = save_model(DeFeatNet(ModelConfig(height=height, width=width)),
                                       f'{scratch}/{width}x{height}')
                results += benchmark_model(directory, names, repeats, warmup, threads)
    log(format_table(results, names[0]))
    return results


def format_table(results, reference):
    """Markdown table of the results."""
    lines = [f'speed-up = p50 of {reference} / p50 of the backend, same network and resolution',
             '| resolution | backend | network | p50 ms | p99 ms | frames/s | speed-up | '
             'depth deviation | AbsRel |', '|' + ' --- |' * 9]
    for r in results:
        lines.append(f"| {r['resolution']} | {r['backend']} | {r['network']} | "
                     f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['fps']:.1f} | "
                     f"{r['speedup']:.2f}x | {100 * r['depth_deviation']:.2f}% | "
                     f"{r['abs_rel']:.3f} |")
    return '\n'.join(lines)


@dataclass
class BenchmarkConfig(TypedConfig):
    """What ``defeat-ros benchmark`` measures."""

    model: str = option('', 'Model directory; empty: a fresh model per resolution')
    resolutions: list = option(['640x192', '480x352'], 'WIDTHxHEIGHT list, comma-separated '
                               '(without --model)')
    backends: list = option([], 'Backends, comma-separated; the first is the reference; empty: '
                            'the CPU list, or the CUDA list on a GPU')
    repeats: int = option(10, 'Timed runs per measurement', minimum=1, maximum=100000)
    threads: int = option(0, 'ONNX Runtime threads (0: auto)', minimum=0, maximum=1024)

    def __post_init__(self):
        """Read the lists and check them."""
        self.backends = comma_list(self.backends, name='backends')
        unknown = sorted(set(self.backends) - set(BACKENDS))
        if unknown:
            raise ValueError(f'unknown backends {unknown}; choose from {sorted(BACKENDS)}')
        self.resolutions = comma_list(self.resolutions, name='resolutions')
        if not all(re.fullmatch(r'\d+x\d+', r) for r in self.resolutions):
            raise ValueError(f'resolutions must look like 640x192,480x352, '
                             f'got {self.resolutions}')
        self.check_options()


def add_arguments(parser):
    """Add the options of ``defeat-ros benchmark`` (those of BenchmarkConfig)."""
    add_options(parser, BenchmarkConfig)


def run(args):
    """Run ``defeat-ros benchmark`` with parsed ``args``."""
    config = config_from_args(BenchmarkConfig, args)
    default = GPU_DEFAULT if torch.cuda.is_available() else CPU_DEFAULT
    resolutions = [tuple(int(v) for v in r.split('x'))[::-1] for r in config.resolutions]
    run_benchmark(resolutions, config.model or None, tuple(config.backends) or default,
                  config.repeats, threads=config.threads)
