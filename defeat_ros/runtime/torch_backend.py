"""PyTorch backend: CPU (fp32, or bf16 autocast with channels_last) and CUDA (fp32 or fp16)."""

import contextlib

from defeat_ros.nets import load_model
from defeat_ros.runtime.export_graphs import graph_modules
from defeat_ros.runtime.graph_backend import GraphBackend, pose_from_motion
from defeat_ros.runtime.shapes import check_image
import torch

PRECISIONS = ('fp32', 'bf16', 'fp16')
STEP_GRAPHS = {'step_depth_features': 'depth_features', 'step_depth': 'depth'}
"""Whole camera steps CUDA graphs capture as one: name -> the current image's graph, computed
beside the pose graph of (previous, current)."""


class TorchBackend(GraphBackend):
    """
    The exported graphs run eagerly in PyTorch.

    ``precision`` 'bf16' holds the weights in bf16 and autocasts on the CPU (fast where the CPU
    has AVX-512 BF16 or AMX);
    'fp16' autocasts on CUDA. ``channels_last`` changes the memory layout of the convolutions.
    ``cuda_graphs`` captures each graph once on CUDA and replays it, removing per-kernel launch
    overhead at batch 1 (inputs are copied into static buffers; outputs are cloned). A camera
    step with a previous frame is one graph (:data:`STEP_GRAPHS`): the pose network runs on a
    stream of its own beside depth and features: one frame's networks leave most of a large
    GPU idle, and the two then run at once.
    """

    name = 'pytorch'

    def __init__(self, model_dir, device='cpu', precision='fp32', channels_last=False,
                 cuda_graphs=False):
        """Load ``model_dir`` onto ``device``."""
        if precision not in PRECISIONS:
            raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
        self.device = torch.device(device)
        if precision == 'fp16' and self.device.type != 'cuda':
            raise ValueError('fp16 needs a CUDA device; use bf16 on the CPU')
        model = load_model(model_dir).eval().to(self.device)
        if precision == 'bf16':
            # Weights stored in bf16 once: autocast then no longer casts every weight at every
            # call (15-20 % of a bf16 step on a 2-core CPU); it still runs its fp32 operations
            # (norms, the pose maths) in fp32.
            model = model.to(torch.bfloat16)
        self.config = model.config
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.graphs = {name: module.to(memory_format=memory_format)
                       for name, module in graph_modules(model).items()}
        self.memory_format = memory_format
        self.precision = precision
        self.name = f'pytorch-{self.device.type}-{precision}' + ('-cl' if channels_last else '')
        if cuda_graphs and self.device.type != 'cuda':
            raise ValueError('CUDA graphs need a CUDA device')
        self.captured = {} if cuda_graphs else None
        self.pose_stream = None

    def autocast(self):
        """Autocast context for the configured precision (a no-op for fp32)."""
        if self.precision == 'fp32':
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == 'bf16' else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    @torch.inference_mode()
    def run_graph(self, graph, *images):
        """Run ``graph`` on 1 x 3 x H x W arrays or tensors: float32 tensors, a tuple."""
        inputs = []
        for image in images:
            check_image(image, self.config)
            inputs.append(torch.as_tensor(image).to(self.device).contiguous(
                memory_format=self.memory_format))
        if self.captured is not None:
            return self.replay(graph, inputs)
        return self.forward(graph, inputs)

    def forward(self, graph, inputs):
        """
        Compute ``graph``: the code run eagerly or captured into a CUDA graph.

        It must not copy host data to the device or read device values on the host (no
        ``new_tensor``, ``torch.tensor``, ``.item()``): CUDA stream capture forbids both.

        :param graph: one of the exported graphs, or of :data:`STEP_GRAPHS` (CUDA only).
        :return: the outputs as a tuple of float32 tensors; a step's are its image graph's
            followed by the motion 1 x 6.
        """
        if graph in STEP_GRAPHS:
            return self.forward_step(STEP_GRAPHS[graph], inputs)
        with self.autocast():
            return as_float_tuple(self.graphs[graph](*inputs))

    def forward_step(self, graph, inputs):
        """
        Compute ``graph`` of the current image and the pose graph at once, on two CUDA streams.

        The pose stream starts after the work already queued (the inputs' copies) and the
        current stream waits for it before returning, in a capture as outside one.

        :param inputs: [previous, current] 1 x 3 x H x W tensors on the backend's device.
        """
        previous, current = inputs
        if self.pose_stream is None:
            self.pose_stream = torch.cuda.Stream(self.device)
        main = torch.cuda.current_stream(self.device)
        self.pose_stream.wait_stream(main)
        with torch.cuda.stream(self.pose_stream):
            motion = self.forward('pose', [previous, current])
        outputs = self.forward(graph, [current])
        main.wait_stream(self.pose_stream)
        return outputs + motion

    def step(self, image, previous=None, features=True):
        """
        Run :meth:`GraphBackend.step`; with CUDA graphs and a previous frame, as one graph.

        :return: (depth 1 x 1 x H x W, features 1 x n x H x W or None, T_previous_current
            1 x 4 x 4), of the kind of ``image``.
        """
        if self.captured is None or previous is None:
            return super().step(image, previous, features)
        outputs = self.run('step_depth_features' if features else 'step_depth', previous, image)
        feature_maps = outputs[1] if features else None
        return outputs[0], feature_maps, pose_from_motion(outputs[-1], self.config)

    def replay(self, graph, inputs):
        """Run ``graph`` through its CUDA graph, capturing it on the backend's device first."""
        with torch.cuda.device(self.device):
            if graph not in self.captured:
                self.captured[graph] = self.capture(graph, inputs)
            cuda_graph, static_inputs, static_output = self.captured[graph]
            for static, x in zip(static_inputs, inputs):
                static.copy_(x)
            cuda_graph.replay()
            return tuple(output.clone() for output in static_output)

    def capture(self, graph, inputs):
        """
        Capture :meth:`forward` of ``graph`` on the current CUDA device.

        :return: (CUDA graph, its static input tensors, its static outputs).
        """
        static_inputs = [x.clone() for x in inputs]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):  # warm up kernels and allocator outside the capture
                self.forward(graph, static_inputs)
        torch.cuda.current_stream().wait_stream(side)
        cuda_graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(cuda_graph):
            static_output = self.forward(graph, static_inputs)
        return cuda_graph, static_inputs, static_output


def as_float_tuple(outputs):
    """Return a graph's output tensor, or tuple of them, as a tuple of float32 tensors."""
    return tuple(output.float() for output in
                 (outputs if isinstance(outputs, tuple) else (outputs,)))
