"""
Backend selection: 'auto' takes TensorRT on a GPU, else CUDA PyTorch, else the fastest CPU.

On the CPU the fastest backend is measured once per model and machine, then remembered.
"""

import importlib.util
import logging
import os
import platform
import sys
import time

import numpy as np

LOG = logging.getLogger(__name__)
BACKENDS = ('auto', 'onnxruntime', 'openvino', 'pytorch', 'tensorrt')
NVIDIA_DRIVER_FILES = ('/proc/driver/nvidia', '/dev/nvidiactl', '/dev/nvhost-ctrl-gpu')
"""Files an NVIDIA driver makes: its /proc entry and control devices (desktop and Jetson)."""


def resolve_device(device):
    """
    Return ``device`` with 'auto' replaced by 'cuda' when a GPU is visible, else 'cpu'.

    Without an NVIDIA driver (none of :data:`NVIDIA_DRIVER_FILES`) 'auto' is 'cpu' without
    importing torch, which a CPU process running ONNX Runtime or OpenVINO does not need.
    """
    if device != 'auto':
        return device
    if not any(os.path.exists(path) for path in NVIDIA_DRIVER_FILES):
        return 'cpu'
    import torch
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def leave_cpu_to_backend(backend):
    """
    Put PyTorch on one CPU thread unless ``backend`` is PyTorch on the CPU (process-wide).

    With ONNX Runtime or TensorRT, PyTorch only does small pre- and post-processing, and its
    thread pool (busy-waiting after every operation) competes with the inference threads: on a
    2-core CPU a node's inference took 2 to 3 times as long as with one PyTorch thread. For a
    process that runs one Perception (the node, a benchmark), not a library default. A process
    that has not imported torch is left as it is (torch is not imported for it).
    """
    torch = sys.modules.get('torch')
    if torch is not None and not backend.name.startswith('pytorch-cpu'):
        torch.set_num_threads(1)


def device_description(backend):
    """
    Name the hardware ``backend`` runs on, e.g. 'NVIDIA H100 (cuda:0)' or the CPU's model.

    For diagnostics' ``hardware_id``: the device, not the software that drives it.
    """
    if not str(getattr(backend, 'device', 'cpu')).startswith('cuda'):
        return cpu_model()
    import torch
    device = torch.device(backend.device)
    if device.type == 'cuda':
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f'{torch.cuda.get_device_name(index)} (cuda:{index})'
    return cpu_model()


def cpu_model():
    """Return the CPU's model name from /proc/cpuinfo (the platform's name where it has none)."""
    try:
        with open('/proc/cpuinfo') as stream:
            for line in stream:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or 'cpu'


def make_backend(model_dir, backend='auto', device='auto', precision=None, threads=0,
                 cuda_graphs=False, concurrent_pose=False):
    """
    Open ``model_dir`` with the named backend.

    :param backend: one of BACKENDS.
    :param device: 'auto', 'cpu', 'cuda' or 'cuda:<index>' (PyTorch and TensorRT).
    :param precision: 'fp32', 'bf16' (CPU PyTorch, OpenVINO), 'int8' (ONNX Runtime, OpenVINO,
        TensorRT) or 'fp16' (GPU); None picks the backend's default: fp16 on a GPU, fp32 on
        the CPU.
    :param threads: ONNX Runtime intra-op or OpenVINO inference threads (0: their default).
    :param cuda_graphs: capture and replay CUDA graphs (PyTorch on CUDA).
    :param concurrent_pose: run the pose graph beside depth and features (ONNX Runtime).
    """
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
    device = resolve_device(device)
    if backend == 'auto':
        return auto_backend(model_dir, device, precision, threads)
    if backend == 'onnxruntime':
        from defeat_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
        return OnnxRuntimeBackend(model_dir, threads, precision or 'fp32', concurrent_pose)
    if backend == 'openvino':
        from defeat_ros.runtime.openvino_backend import OpenVinoBackend
        return OpenVinoBackend(model_dir, threads, precision or 'fp32')
    if backend == 'tensorrt':
        from defeat_ros.runtime.tensorrt_engine import TensorRTBackend
        return TensorRTBackend(model_dir, precision=precision or 'fp16', device=device)
    from defeat_ros.runtime.torch_backend import TorchBackend
    precision = precision or ('fp16' if device.startswith('cuda') else 'fp32')
    return TorchBackend(model_dir, device, precision, channels_last=precision != 'fp32',
                        cuda_graphs=cuda_graphs)


def auto_backend(model_dir, device, precision, threads):
    """
    Pick TensorRT if usable, else CUDA PyTorch, else the fastest CPU candidate.

    On the CPU each of :func:`cpu_candidates` is timed on a whole camera step the first time,
    and the winner is remembered per model weights, machine and library versions
    (:mod:`~defeat_ros.runtime.backend_choice`): later starts open only that backend.
    """
    if device.startswith('cuda'):
        try:
            from defeat_ros.runtime.tensorrt_engine import tensorrt_available, TensorRTBackend
            available, reason = tensorrt_available()
        except ImportError as error:
            available, reason = False, str(error)
        if available:
            return TensorRTBackend(model_dir, precision=precision or 'fp16', device=device)
        LOG.info('TensorRT not used (%s); running PyTorch on %s', reason, device)
        return make_backend(model_dir, 'pytorch', device, precision, threads)
    from defeat_ros.runtime.backend_choice import BackendChoice
    candidates = cpu_candidates(model_dir)
    choice = BackendChoice(model_dir, candidates, threads)
    remembered = choice.load()
    if remembered is not None:
        LOG.info('CPU backend %s (measured fastest earlier, %s)', remembered, choice.path)
        return make_backend(model_dir, device='cpu', threads=threads, **candidates[remembered])
    timings, opened = {}, {}
    for name, options in candidates.items():
        try:
            opened[name] = make_backend(model_dir, device='cpu', threads=threads, **options)
        except (ValueError, RuntimeError) as error:  # stale int8 graphs, a failed compile
            LOG.warning('CPU backend %s left out: %s', name, error)
            continue
        timings[name] = time_step(opened[name])
    fastest = min(timings, key=timings.get)
    LOG.info('CPU backend timings (s per camera step): %s; using %s', timings, fastest)
    choice.store(fastest, timings)
    return opened[fastest]


def cpu_candidates(model_dir):
    """
    Return the CPU backends ``auto`` chooses from: name -> make_backend options.

    ONNX Runtime and PyTorch in fp32, PyTorch bf16 where the CPU has native bf16 instructions,
    and ONNX Runtime int8 (pose alone or beside depth) when the model has int8 graphs
    (``defeat-ros export --int8``: quantising is the user's choice of its accuracy cost). Where
    OpenVINO is installed: OpenVINO fp32, bf16 where the CPU has native bf16, and int8 when the
    model has OpenVINO int8 graphs.
    """
    from defeat_ros.runtime.onnx_export import has_int8
    bf16 = cpu_has_bf16()
    candidates = {'onnxruntime-fp32': {'backend': 'onnxruntime', 'precision': 'fp32'},
                  'pytorch-fp32': {'backend': 'pytorch', 'precision': 'fp32'}}
    if bf16:
        candidates['pytorch-bf16'] = {'backend': 'pytorch', 'precision': 'bf16'}
    if has_int8(model_dir):
        candidates['onnxruntime-int8'] = {'backend': 'onnxruntime', 'precision': 'int8'}
        candidates['onnxruntime-int8-concurrent'] = {
            'backend': 'onnxruntime', 'precision': 'int8', 'concurrent_pose': True}
    if importlib.util.find_spec('openvino') is not None:
        precisions = {'fp32': True, 'bf16': bf16, 'int8': has_int8(model_dir, 'openvino')}
        for precision in [name for name, usable in precisions.items() if usable]:
            candidates[f'openvino-{precision}'] = {'backend': 'openvino', 'precision': precision}
    return candidates


def cpu_has_bf16():
    """Whether the CPU has native bf16 matrix instructions (AMX or AVX-512 BF16)."""
    try:
        with open('/proc/cpuinfo') as stream:
            flags = stream.read()
    except OSError:
        return False
    return 'amx_bf16' in flags or 'avx512_bf16' in flags


def time_step(backend, repeats=3):
    """Seconds per camera step (depth, features and pose) after two warm-up steps."""
    image = np.random.default_rng(0).random((1, 3, backend.config.height, backend.config.width),
                                            dtype=np.float32)
    for _ in range(2):
        backend.step(image, image, features=True)
    start = time.perf_counter()
    for _ in range(repeats):
        backend.step(image, image, features=True)
    return (time.perf_counter() - start) / repeats
