"""
Latency of every backend and architecture side by side, PyTorch fp32 eager as the denominator.

Speed is measured, never asserted in tests: ``defeat-ros benchmark`` prints p50/p99 latency and
frames/s per architecture, backend, network and resolution, the speed-up over PyTorch fp32
eager of the first architecture (DeFeat-Net's) measured in the same run, and the accuracy each
path keeps against fp32 PyTorch of the same architecture on synthetic frames with exact depth
and correspondences: median-scaled depth AbsRel and the features' ROC-AUC (global negatives).
An untrained network's accuracy only shows what a backend changes; ``--model`` measures a
trained one.
"""

from dataclasses import dataclass, replace
import os
import re
import tempfile
import time

from defeat_ros.apps.arguments import add_options, config_from_args
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.evaluation import DepthEvaluation
from defeat_ros.evaluation.protocol import EVALUATION_SEED
from defeat_ros.evaluation.synthetic import evaluate_features
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
    'onnxruntime-int8-concurrent': {'backend': 'onnxruntime', 'precision': 'int8',
                                    'concurrent_pose': True},
    'openvino': {'backend': 'openvino', 'precision': 'fp32'},
    'openvino-bf16': {'backend': 'openvino', 'precision': 'bf16'},
    'openvino-int8': {'backend': 'openvino', 'precision': 'int8'},
    'pytorch-cuda-fp32': {'backend': 'pytorch', 'device': 'cuda', 'precision': 'fp32'},
    'pytorch-cuda-fp16': {'backend': 'pytorch', 'device': 'cuda', 'precision': 'fp16'},
    'pytorch-cuda-fp16-graphs': {'backend': 'pytorch', 'device': 'cuda', 'precision': 'fp16',
                                 'cuda_graphs': True},
    'tensorrt-fp16': {'backend': 'tensorrt', 'device': 'cuda', 'precision': 'fp16'},
}
"""Benchmark name -> make_backend arguments."""
CPU_DEFAULT = ('pytorch-fp32', 'pytorch-bf16', 'onnxruntime', 'onnxruntime-int8',
               'onnxruntime-int8-concurrent', 'openvino', 'openvino-bf16', 'openvino-int8')
GPU_DEFAULT = ('pytorch-cuda-fp32', 'pytorch-cuda-fp16', 'pytorch-cuda-fp16-graphs')
"""Default lists; the first of each is the fp32 eager reference of every ratio."""
ARCHITECTURES = {
    'defeat': {},
    'shared_encoder': {'shared_encoder': True},
    'half_features': {'feature_stride': 2},
    'half_pose': {'pose_stride': 2},
    'fast_decoder': {'decoder': 'fast'},
    'fast': {'pose_stride': 2, 'decoder': 'fast'},
}
"""
Architecture name -> ModelConfig changes from DeFeat-Net's (ResNet-18 x 3, 32-dim features),
one row group each; 'fast' is the options that train as DeFeat-Net does (not shared_encoder,
which stops depth from learning, nor feature_stride 2, which breaks the odometry;
config/train/variant_fast.yaml)."""
INT8_FORMAT_OF = {'onnxruntime': 'qoperator', 'openvino': 'openvino', 'tensorrt': 'tensorrt'}
"""The int8 graphs (``quantise.INT8_FORMATS``) each backend's int8 rows read."""
NETWORKS = ('depth', 'features', 'depth_features', 'pose', 'pipeline')
"""Timed calls; 'pipeline' is a camera frame's whole step: depth, features and pose."""


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
    """Map each of NETWORKS to a timed call on ``backend``."""
    return {
        'depth': lambda: backend.depth(frame),
        'features': lambda: backend.features(frame),
        'depth_features': lambda: backend.depth_and_features(frame),
        'pose': lambda: backend.pose(other, frame),
        'pipeline': lambda: backend.step(frame, other, features=True),
    }


ACCURACY_FRAMES = 10
"""Frames per drive of the accuracy columns: the evaluation street by day and by night."""


def accuracy_drives(config):
    """Return the drives of the accuracy columns: ``defeat-ros evaluate``'s street."""
    return [render_sequence(WorldConfig(width=config.width, height=config.height,
                                        frames=ACCURACY_FRAMES, seed=EVALUATION_SEED,
                                        night=night)) for night in (False, True)]


def accuracy(backend, drives):
    """
    (median-scaled depth AbsRel, features' global ROC-AUC) of ``backend`` on ``drives``.

    AbsRel is the mean over all frames, the AUC the mean over the drives.
    """
    evaluation = DepthEvaluation(crop=False)
    aucs = []
    for drive in drives:
        features = []
        for image, truth in zip(drive.images, drive.depths):
            depth, feature_map = backend.depth_and_features(image.unsqueeze(0))
            evaluation.add(depth[0].cpu(), truth)
            features.append(feature_map[0].float().cpu())
        aucs.append(evaluate_features(features, drive).get('global_auc', float('nan')))
    return evaluation.summary()['abs_rel'], float(np.mean(aucs))


def benchmark_model(model_dir, names=CPU_DEFAULT, repeats=10, warmup=3, threads=0,
                    architecture='model'):
    """
    Measure ``names`` on one model directory; returns a list of result dictionaries.

    Frames come from the synthetic evaluation street at the model's resolution, by day and by
    night, so accuracy is reported against exact depth and correspondences; int8 is calibrated
    on another street, by day and by night.
    """
    config = read_config(model_dir)
    drives = accuracy_drives(config)
    frames = [image.unsqueeze(0) for image in drives[0].images]
    int8_formats = {INT8_FORMAT_OF[BACKENDS[name]['backend']] for name in names
                    if BACKENDS[name].get('precision') == 'int8'}
    for int8_format in sorted(int8_formats):
        quantise_onnx(model_dir, calibration_frames(model_dir), int8_format=int8_format)
    results = []
    for name in names:
        backend = make_backend(model_dir, threads=threads, **BACKENDS[name])
        abs_rel, auc = accuracy(backend, drives)
        for network, call in network_calls(backend, frames[1], frames[0]).items():
            times = latencies(call, repeats, warmup)
            results.append({'resolution': f'{config.width}x{config.height}',
                            'architecture': architecture, 'backend': name, 'network': network,
                            'p50_ms': 1e3 * np.percentile(times, 50),
                            'p99_ms': 1e3 * np.percentile(times, 99), 'fps': 1 / times.mean(),
                            'abs_rel': abs_rel, 'auc': auc})
    return results


def run_benchmark(resolutions=((192, 640),), model_dir=None, names=CPU_DEFAULT,
                  architectures=tuple(ARCHITECTURES), repeats=10, warmup=3, threads=0,
                  log=print, base=None):
    """
    Benchmark a model, or a fresh one per resolution and architecture, and print the table.

    Fresh models are ``base`` (by default DeFeat-Net's paper size: ResNet-18 encoders, 32-dim
    features) with each architecture's changes, seeded alike.
    """
    log(f'machine: {machine()}')
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        if model_dir is not None:
            results += benchmark_model(model_dir, names, repeats, warmup, threads)
        else:
            for height, width in resolutions:
                for architecture in architectures:
                    torch.manual_seed(0)
                    config = replace(base or ModelConfig(), height=height, width=width,
                                     **ARCHITECTURES[architecture])
                    directory = save_model(DeFeatNet(config),
                                           f'{scratch}/{width}x{height}-{architecture}')
                    results += benchmark_model(directory, names, repeats, warmup, threads,
                                               architecture)
    add_ratios(results)
    log(format_table(results, f'{names[0]} of {results[0]["architecture"]}'))
    return results


def add_ratios(results):
    """
    Add speed-up and accuracy changes to every result.

    'speedup': over the first architecture's first backend, same network and resolution;
    'abs_rel_change' and 'auc_change': relative, against the first backend of the same
    architecture.
    """
    for result in results:
        same = [r for r in results if r['resolution'] == result['resolution']]
        base = next(r for r in same if r['network'] == result['network'])
        result['speedup'] = base['p50_ms'] / result['p50_ms']
        reference = next(r for r in same if r['architecture'] == result['architecture'])
        result['abs_rel_change'] = result['abs_rel'] / reference['abs_rel'] - 1
        result['auc_change'] = result['auc'] / reference['auc'] - 1


def format_table(results, reference):
    """Markdown table of the results."""
    lines = [f'speed-up = p50 of {reference} / p50 of the row, same network and resolution; '
             f'accuracy changes are against the first backend of the same architecture',
             '| resolution | architecture | backend | network | p50 ms | p99 ms | frames/s | '
             'speed-up | AbsRel | AbsRel change | AUC | AUC change |', '|' + ' --- |' * 12]
    for r in results:
        lines.append(f"| {r['resolution']} | {r['architecture']} | {r['backend']} | "
                     f"{r['network']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                     f"{r['fps']:.1f} | {r['speedup']:.2f}x | {r['abs_rel']:.3f} | "
                     f"{100 * r['abs_rel_change']:+.2f}% | {r['auc']:.3f} | "
                     f"{100 * r['auc_change']:+.2f}% |")
    return '\n'.join(lines)


@dataclass
class BenchmarkConfig(TypedConfig):
    """What ``defeat-ros benchmark`` measures."""

    model: str = option('', 'Model directory; empty: a fresh model per resolution')
    resolutions: list = option(['640x192'], 'WIDTHxHEIGHT list, comma-separated (without '
                               '--model)')
    architectures: list = option(list(ARCHITECTURES), 'Architectures, comma-separated (without '
                                 '--model); the first is the reference of the speed-ups')
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
        self.architectures = comma_list(self.architectures, name='architectures')
        unknown = sorted(set(self.architectures) - set(ARCHITECTURES))
        if unknown or not self.architectures:
            raise ValueError(f'unknown architectures {unknown}; choose from '
                             f'{list(ARCHITECTURES)}')
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
                  tuple(config.architectures), config.repeats, threads=config.threads)
