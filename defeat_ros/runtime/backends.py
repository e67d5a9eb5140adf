"""Backend selection: 'auto' takes TensorRT on a GPU, else CUDA PyTorch, else the fastest CPU."""

import logging
import platform
import time

import torch

LOG = logging.getLogger(__name__)
BACKENDS = ('auto', 'onnxruntime', 'pytorch', 'tensorrt')


def resolve_device(device):
    """Return ``device`` with 'auto' replaced by 'cuda' when a GPU is visible, else 'cpu'."""
    if device == 'auto':
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    return device


def leave_cpu_to_backend(backend):
    """
    Put PyTorch on one CPU thread unless ``backend`` is PyTorch on the CPU (process-wide).

    With ONNX Runtime or TensorRT, PyTorch only does small pre- and post-processing, and its
    thread pool (busy-waiting after every operation) competes with the inference threads: on a
    2-core CPU a node's inference took 2 to 3 times as long as with one PyTorch thread. For a
    process that runs one Perception (the node, a benchmark), not a library default.
    """
    if not backend.name.startswith('pytorch-cpu'):
        torch.set_num_threads(1)


def device_description(backend):
    """
    Name the hardware ``backend`` runs on, e.g. 'NVIDIA H100 (cuda:0)' or the CPU's model.

    For diagnostics' ``hardware_id``: the device, not the software that drives it.
    """
    device = torch.device(getattr(backend, 'device', 'cpu'))
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
                 cuda_graphs=False):
    """
    Open ``model_dir`` with the named backend.

    :param backend: one of BACKENDS.
    :param device: 'auto', 'cpu', 'cuda' or 'cuda:<index>' (PyTorch and TensorRT).
    :param precision: 'fp32', 'bf16' (CPU PyTorch), 'int8' (ONNX Runtime) or 'fp16' (GPU);
        None picks the backend's default: fp16 on a GPU, fp32 on the CPU.
    :param threads: ONNX Runtime intra-op threads (0: its default).
    :param cuda_graphs: capture and replay CUDA graphs (PyTorch on CUDA).
    """
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
    device = resolve_device(device)
    if backend == 'auto':
        return auto_backend(model_dir, device, precision, threads)
    if backend == 'onnxruntime':
        from defeat_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
        return OnnxRuntimeBackend(model_dir, threads, precision or 'fp32')
    if backend == 'tensorrt':
        from defeat_ros.runtime.tensorrt_engine import TensorRTBackend
        return TensorRTBackend(model_dir, precision=precision or 'fp16', device=device)
    from defeat_ros.runtime.torch_backend import TorchBackend
    precision = precision or ('fp16' if device.startswith('cuda') else 'fp32')
    return TorchBackend(model_dir, device, precision, channels_last=precision != 'fp32',
                        cuda_graphs=cuda_graphs)


def auto_backend(model_dir, device, precision, threads):
    """Pick TensorRT if usable, else CUDA PyTorch, else the fastest of the CPU backends."""
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
    candidates = [make_backend(model_dir, 'onnxruntime', 'cpu', 'fp32', threads),
                  make_backend(model_dir, 'pytorch', 'cpu', 'fp32', threads)]
    if cpu_has_bf16():
        candidates.append(make_backend(model_dir, 'pytorch', 'cpu', 'bf16', threads))
    timings = {b.name: time_depth(b) for b in candidates}
    fastest = min(candidates, key=lambda b: timings[b.name])
    LOG.info('CPU backend timings (s per depth frame): %s; using %s', timings, fastest.name)
    return fastest


def cpu_has_bf16():
    """Whether the CPU has native bf16 matrix instructions (AMX or AVX-512 BF16)."""
    try:
        with open('/proc/cpuinfo') as stream:
            flags = stream.read()
    except OSError:
        return False
    return 'amx_bf16' in flags or 'avx512_bf16' in flags


def time_depth(backend, repeats=3):
    """Seconds per depth inference after two warm-up runs."""
    image = torch.rand(1, 3, backend.config.height, backend.config.width)
    backend.depth(image)
    backend.depth(image)
    start = time.perf_counter()
    for _ in range(repeats):
        backend.depth(image)
    return (time.perf_counter() - start) / repeats
