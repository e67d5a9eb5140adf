"""
End-to-end latency and throughput of the DeFeat-Net node against the bare Perception call.

    .venv/bin/python benchmarks/ros_latency.py --model models/default --seconds 10
    .venv/bin/python benchmarks/ros_latency.py --width 640 --height 192 --seconds 10

The node runs as its own process (``python -m defeat_ros.ros.depth_node``), as on a robot.
This process publishes synthetic street frames (sensor_msgs/Image rgb8) at each input rate,
stamped with the wall time of publication, and subscribes to ``depth``: latency is receive time
minus stamp. Before the node starts, the same frames go through a bare Perception call in this
process (depth + pose at the input size: the node's work for a depth subscriber), paced at the
same rate, so the two measurements never share the CPU and both see the same cold caches and
sleeping thread pools between frames (calls back to back are markedly faster, which would
flatter the bare call). The node runs with ``max_gap_s`` 3600 so that slow inference never
resets odometry (a reset skips the pose network, which would flatter the node). Without
``--model`` a random-weights ResNet-18 model of the requested size is made (inference cost
does not depend on the weights).

Printed per input rate: output rate, dropped frames, end-to-end p50/p99, the bare paced
Perception p50, and from the node's diagnostics its inference p50 and queue wait p50 (a frame
waiting for the inference of an older one: the newest-frame policy when the model is slower
than the camera, not ROS overhead). ROS overhead = end-to-end p50 - queue wait p50 - bare
Perception p50: DDS transport of the image and the outputs, (de)serialisation, the hand-over
to the inference thread and message building, in milliseconds and as a share of the bare call.
"""

import argparse
import os
from pathlib import Path
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time

from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.nets import DeFeatNet, ModelConfig, save_model
from defeat_ros.runtime.backends import leave_cpu_to_backend
from defeat_ros.runtime.perception import Perception
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import onnxruntime
import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import Image
import torch

NAMESPACE = '/bench'


def machine():
    """Describe the CPU, core count and library versions."""
    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as stream:
            names = [line.split(':', 1)[1].strip() for line in stream
                     if line.startswith('model name')]
        model = names[0] if names else model
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'
    load = ', '.join(f'{x:.1f}' for x in os.getloadavg())
    return (f'{model}, {os.cpu_count()} cores, {gpu}, load average {load}; Python '
            f'{platform.python_version()}, torch {torch.__version__}, onnxruntime '
            f'{onnxruntime.__version__}')


def percentiles(values):
    """Return (p50, p99) in milliseconds."""
    return tuple(1000.0 * float(np.percentile(values, q)) for q in (50, 99))


def time_perception(perception, frames, hz, repeats):
    """
    Return seconds per bare Perception call (depth + pose at the input size), paced at ``hz``.

    A call starts every 1 / ``hz`` seconds, or at once when the previous one took longer.
    """
    size = frames[0].shape[:2]
    for frame in frames[:3]:
        perception(frame, 'rgb8', features=False, pose=True, output_size=size)
    seconds = []
    next_start = time.monotonic()
    for index in range(repeats):
        time.sleep(max(0.0, next_start - time.monotonic()))
        next_start = time.monotonic() + 1.0 / hz
        start = time.perf_counter()
        perception(frames[index % len(frames)], 'rgb8', features=False, pose=True,
                   output_size=size)
        seconds.append(time.perf_counter() - start)
    return seconds


def bare_repeats(hz, args):
    """Return how many paced bare calls to time at ``hz``: the node's frame count, 8 to 40."""
    return int(min(40, max(8, hz * args.seconds)))


def image_message(pixels):
    """Return an rgb8 Image stamped with the current wall time."""
    height, width = pixels.shape[:2]
    message = Image(height=height, width=width, encoding='rgb8', step=3 * width)
    message.data = pixels.tobytes()
    message.header.frame_id = 'camera_optical'
    message.header.stamp.sec, message.header.stamp.nanosec = divmod(time.time_ns(), 10 ** 9)
    return message


class Client:
    """Publishes frames to the node and records depth latencies and diagnostics."""

    def __init__(self):
        """Create the node, its publisher and subscriptions, and spin it in a thread."""
        self.node = rclpy.create_node('bench_client', namespace=NAMESPACE)
        self.publisher = self.node.create_publisher(Image, 'image', 10)
        self.node.create_subscription(Image, 'depth', self._on_depth, 10)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 10)
        self.latencies, self.diagnostics = [], []
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def _on_depth(self, message):
        stamp = message.header.stamp.sec * 10 ** 9 + message.header.stamp.nanosec
        self.latencies.append((time.time_ns() - stamp) * 1e-9)

    def _on_diagnostics(self, message):
        for status in message.status:
            values = {kv.key: kv.value for kv in status.values}
            if status.name == f'{NAMESPACE}/defeat: perception' and \
                    values['latency p50 (ms)'] != '-':
                self.diagnostics.append(values)

    def run(self, frames, hz, seconds):
        """
        Publish at ``hz`` for ``seconds``.

        :return: (frames published, end-to-end latencies in s, the node's median per-period
            inference and queue wait p50 in ms).
        """
        self.latencies, self.diagnostics = [], []
        start = time.monotonic()
        count = int(hz * seconds)
        for index in range(count):
            delay = start + index / hz - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.publisher.publish(image_message(frames[index % len(frames)]))
        time.sleep(2.0)  # the last outputs and a diagnostics period covering the end
        periods = list(self.diagnostics)
        node_side = [float(np.median([float(d[key]) for d in periods])) if periods else np.nan
                     for key in ('inference p50 (ms)', 'queue wait p50 (ms)')]
        return count, list(self.latencies), node_side


def main():
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--model', help='model directory (default: random weights)')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=192)
    parser.add_argument('--backend', default='onnxruntime')
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--rates', default='1,10,30',
                        help='input rates (Hz), comma-separated; the 1 Hz run shows the '
                             'overhead without waiting for an inference in progress')
    args = parser.parse_args()
    os.environ['ROS_DOMAIN_ID'] = str(random.randint(150, 199))
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'

    print(f'machine: {machine()}')
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model
        if not model_dir:
            torch.manual_seed(0)
            config = ModelConfig(height=args.height, width=args.width)
            model_dir = str(save_model(DeFeatNet(config), Path(scratch) / 'model'))
        sequence = render_sequence(WorldConfig(width=args.width, height=args.height, frames=20))
        frames = list(images_uint8(sequence.images))
        rates = [float(r) for r in args.rates.split(',')]
        perception = Perception(model_dir, args.backend)
        leave_cpu_to_backend(perception.backend)  # as the node does
        backend = perception.backend.name
        bare = {hz: percentiles(time_perception(perception, frames, hz, bare_repeats(hz, args)))
                for hz in rates}
        del perception
        print(f'input {args.width}x{args.height}, model {args.model or "random ResNet-18"}, '
              f'backend {backend}, depth + pose per frame')

        node = subprocess.Popen(
            [sys.executable, '-m', 'defeat_ros.ros.depth_node', '--ros-args',
             '-r', f'__ns:={NAMESPACE}', '-p', f'model:={model_dir}',
             '-p', f'backend:={args.backend}', '-p', 'max_gap_s:=3600.0'],
            stdin=subprocess.DEVNULL)
        rclpy.init()
        client = Client()
        try:
            deadline = time.monotonic() + 120.0
            while not client.latencies and time.monotonic() < deadline:  # node up and warm
                client.publisher.publish(image_message(frames[0]))
                time.sleep(0.5)
            if not client.latencies:
                raise SystemExit('the node never answered')
            print('| input | output | dropped | end-to-end p50 / p99 | bare Perception p50 '
                  '(paced) | node inference p50 | queue wait p50 | ROS overhead |')
            print('|---|---|---|---|---|---|---|---|')
            for hz in rates:
                published, latencies, node_side = client.run(frames, hz, args.seconds)
                p50, p99 = percentiles(latencies)
                node_inference, wait = node_side
                overhead = p50 - wait - bare[hz][0]
                print(f'| {hz:.0f} Hz | {len(latencies) / args.seconds:.1f} Hz | '
                      f'{published - len(latencies)} of {published} | {p50:.1f} / {p99:.1f} ms '
                      f'| {bare[hz][0]:.1f} ms | {node_inference:.1f} ms | {wait:.1f} ms | '
                      f'{overhead:.1f} ms ({overhead / bare[hz][0]:+.1%}) |')
        finally:
            client.executor.shutdown(timeout_sec=5.0)
            rclpy.try_shutdown()
            node.terminate()
            node.wait(timeout=30)


if __name__ == '__main__':
    main()
