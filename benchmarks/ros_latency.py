"""
End-to-end latency and throughput of the DeFeat-Net node against the bare Perception call.

    .venv/bin/python benchmarks/ros_latency.py --model models/default --seconds 10
    .venv/bin/python benchmarks/ros_latency.py --width 640 --height 192 --seconds 10
    .venv/bin/python benchmarks/ros_latency.py --model models/default --matrix --seconds 10

The node runs as its own process (``python -m defeat_ros.ros.depth_node``), as on a robot, and
so does the camera: a process publishing synthetic street frames (sensor_msgs/Image rgb8, with
their CameraInfo) at each input rate, stamped with the wall time of publication, and
subscribing to the node's depth (``DEPTH_TOPIC``): latency is receive time minus stamp. The
frames are rendered at ``--width`` x ``--height`` and scaled to each of ``--sizes``. Before any
ROS process starts, the same frames go through a bare Perception call in this process (depth +
pose at the input size: the node's work for a depth subscriber), paced at the same rate, so
the two measurements never share the CPU and both see the same cold caches and sleeping thread
pools between frames (calls back to back are markedly faster, which would flatter the bare
call). The node runs with its defaults: frames it skips when slower than the camera do not
restart odometry (the gap rule reads the camera stream), so the pose network runs on every
processed frame. Without ``--model`` a
random-weights ResNet-18 model of ``--width`` x ``--height`` is made (inference cost does not
depend on the weights).

Transport matrix: ``--transports`` names Fast DDS configurations of ``ros_transport.CONFIGS``
(``default``; ``profile``: config/fastdds_large_images.xml; ``large_data``:
FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA; ...), each set in the environment of both the camera and
the node process; ``--camera-qos`` the camera's publisher (``reliable``: rclpy's DEFAULT, keep
last 10; ``best_effort``: SENSOR_DATA, keep last 5). ``--matrix`` measures 640x192, 1242x375
and 1920x1080 at 10 and 30 Hz with the default transport, the profile and LARGE_DATA, from a
reliable and a best-effort camera. The camera and the node are started anew for each transport
and camera QoS, the camera's publisher first: the node's ``input_qos`` BEST_AVAILABLE follows
the publishers present when it subscribes, as when a camera driver starts before the node.

Printed per row: frames that came back as depth (of those published), frames the node received
(its diagnostics: the rest were lost in transport; received but not returned were dropped by
the newest-frame policy), end-to-end p50 / p99, the bare paced Perception p50, and from the
node's diagnostics its inference p50 and queue wait p50 (a frame waiting for the inference of
an older one: the newest-frame policy when the model is slower than the camera, not ROS
overhead). ROS overhead = end-to-end p50 - queue wait p50 - bare Perception p50: DDS transport
of the image and the outputs, (de)serialisation, the hand-over to the inference thread and
message building, in milliseconds and as a share of the bare call.
"""

import argparse
import json
import os
from pathlib import Path
import platform
import subprocess
import sys
import tempfile
import threading
import time

import cv2
from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.direct_alignment import POSE_REFINEMENTS
from defeat_ros.geometry import intrinsics_array
from defeat_ros.nets import DeFeatNet, ModelConfig, save_model
from defeat_ros.runtime.backends import cpu_model, leave_cpu_to_backend
from defeat_ros.runtime.perception import Perception
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import onnxruntime
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSPresetProfiles, ReliabilityPolicy
from ros_transport import child_environment, CONFIGS, random_domain_id
from ros_transport import transport_limits
from sensor_msgs.msg import CameraInfo, Image
import torch

NAMESPACE = '/bench'
NODE_NAME = 'defeat'
DEPTH_TOPIC = 'depth/image'
"""The node's depth output, relative to its namespace (``depth`` in older versions)."""

MATRIX = {'sizes': '640x192,1242x375,1920x1080', 'rates': '10,30',
          'transports': 'default,profile,large_data', 'camera_qos': 'reliable,best_effort'}
"""What ``--matrix`` measures."""

CAMERA_QOS = {'reliable': 'DEFAULT', 'best_effort': 'SENSOR_DATA'}
"""Camera publisher QoS: name -> rclpy preset."""

NODE_START_S = 120.0
"""How long the node may take to load the model and return its first depth image."""


def machine():
    """Describe the CPU, core count, library versions and the transport's kernel limits."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'
    load = ', '.join(f'{x:.1f}' for x in os.getloadavg())
    return (f'{cpu_model()}, {os.cpu_count()} cores, {gpu}, load average {load}; '
            f'{transport_limits()}; Python {platform.python_version()}, torch '
            f'{torch.__version__}, onnxruntime {onnxruntime.__version__}')


def percentiles(values):
    """Return (p50, p99) in milliseconds; NaN for no values."""
    if len(values) == 0:
        return float('nan'), float('nan')
    return tuple(1000.0 * float(np.percentile(values, q)) for q in (50, 99))


def ms(value):
    """Format milliseconds, ``-`` for NaN."""
    return '-' if value != value else f'{value:.1f}'


def parse_size(text):
    """Return (width, height) from ``WIDTHxHEIGHT``."""
    try:
        width, height = (int(x) for x in text.lower().split('x'))
    except ValueError:
        raise SystemExit(f'--sizes: {text!r} is not WIDTHxHEIGHT') from None
    return width, height


def listed(text, choices, option):
    """Split a comma-separated option and check its items against ``choices``."""
    items = [item for item in text.split(',') if item]
    unknown = [item for item in items if item not in choices]
    if unknown or not items:
        raise SystemExit(f'{option}: unknown {", ".join(unknown) or "(empty)"}; use '
                         f'{", ".join(choices)}')
    return items


def time_perception(perception, frames, hz, repeats):
    """
    Return seconds per bare Perception call (depth + pose at the input size), paced at ``hz``.

    A call starts every 1 / ``hz`` seconds, or at once when the previous one took longer. It
    has the intrinsics of :func:`camera_info`, as the node has, so its pose is refined as the
    node's is (``pose_refinement``).
    """
    size = frames[0].shape[:2]
    k_norm = intrinsics_array(*pixel_intrinsics(size[1], size[0]), size[1], size[0])
    for frame in frames[:3]:
        perception(frame, 'rgb8', features=False, pose=True, output_size=size, k_norm=k_norm)
    seconds = []
    next_start = time.monotonic()
    for index in range(repeats):
        time.sleep(max(0.0, next_start - time.monotonic()))
        next_start = time.monotonic() + 1.0 / hz
        start = time.perf_counter()
        perception(frames[index % len(frames)], 'rgb8', features=False, pose=True,
                   output_size=size, k_norm=k_norm)
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


def pixel_intrinsics(width, height):
    """Return the camera's fx, fy, cx, cy in pixels: KITTI-like, scaled to its size."""
    return 0.58 * width, 1.92 * height, 0.5 * width, 0.5 * height


def camera_info(image):
    """Return the CameraInfo of ``image`` (:func:`pixel_intrinsics`)."""
    width, height = image.width, image.height
    fx, fy, cx, cy = pixel_intrinsics(width, height)
    info = CameraInfo(header=image.header, width=width, height=height,
                      distortion_model='plumb_bob')
    info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    info.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


class Client:
    """The camera: publishes frames to the node and records depth latencies and diagnostics."""

    def __init__(self, camera_qos):
        """Create the node, its publishers and subscriptions, and spin it in a thread."""
        self.node = rclpy.create_node('bench_camera', namespace=NAMESPACE)
        qos = QoSPresetProfiles[CAMERA_QOS[camera_qos]].value
        self.publisher = self.node.create_publisher(Image, 'image', qos)
        self.info_publisher = self.node.create_publisher(CameraInfo, 'camera_info', qos)
        self.node.create_subscription(Image, DEPTH_TOPIC, self._on_depth, 10)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 10)
        self.latencies, self.diagnostics, self.received = [], [], None
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def _on_depth(self, message):
        stamp = message.header.stamp.sec * 10 ** 9 + message.header.stamp.nanosec
        self.latencies.append((time.time_ns() - stamp) * 1e-9)

    def _on_diagnostics(self, message):
        for status in message.status:
            if status.name != f'{NAMESPACE}/{NODE_NAME}: perception':
                continue
            values = {kv.key: kv.value for kv in status.values}
            if values.get('frames received', '').isdigit():
                self.received = int(values['frames received'])
            if values.get('latency p50 (ms)', '-') != '-':
                self.diagnostics.append(values)

    def publish(self, pixels):
        """Publish ``pixels`` and its CameraInfo, stamped now."""
        image = image_message(pixels)
        self.info_publisher.publish(camera_info(image))
        self.publisher.publish(image)

    def node_publishes(self):
        """Return the topics the node publishes (empty until discovered)."""
        try:
            return {name for name, _ in
                    self.node.get_publisher_names_and_types_by_node(NODE_NAME, NAMESPACE)}
        except rclpy.node.NodeNameNonExistentError:
            return set()

    def node_input_reliability(self):
        """Return the reliability of the node's image subscription, '?' when not found."""
        for info in self.node.get_subscriptions_info_by_topic(f'{NAMESPACE}/image'):
            if info.node_name == NODE_NAME:
                return {ReliabilityPolicy.RELIABLE: 'reliable',
                        ReliabilityPolicy.BEST_EFFORT: 'best effort'}.get(
                            info.qos_profile.reliability, str(info.qos_profile.reliability))
        return '?'

    def start(self, frames, node):
        """
        Wait until the node publishes its depth and answers a frame.

        :return: '' when it does, else what went wrong.
        """
        depth = f'{NAMESPACE}/{DEPTH_TOPIC}'
        deadline = time.monotonic() + NODE_START_S
        while time.monotonic() < deadline and node.poll() is None:
            published = self.node_publishes()
            if depth in published:
                break
            if f'{NAMESPACE}/depth' in published:
                return (f'the node publishes depth on {NAMESPACE}/depth, not {depth}: set '
                        'DEPTH_TOPIC in benchmarks/ros_latency.py to the name it uses')
            time.sleep(0.5)
        while not self.latencies and time.monotonic() < deadline and node.poll() is None:
            self.publish(frames[0])
            time.sleep(0.5)
        if node.poll() is not None:
            return f'the node exited ({node.returncode})'
        return '' if self.latencies else f'no depth came back on {depth}'

    def warm(self, frames, hz=10.0, seconds=1.0):
        """Publish at ``hz`` for ``seconds`` (a new image size), then let the outputs drain."""
        for index in range(int(hz * seconds)):
            self.publish(frames[index % len(frames)])
            time.sleep(1.0 / hz)
        time.sleep(1.5)  # outputs drain; a diagnostics period counts the frames received

    def run(self, frames, hz, seconds):
        """
        Publish at ``hz`` for ``seconds``.

        :return: dict with the frames published, the node's count of frames received (None
            without diagnostics), end-to-end latencies in s, and the node's median per-period
            inference and queue wait p50 in ms.
        """
        received_before = self.received
        self.latencies, self.diagnostics = [], []
        start = time.monotonic()
        count = int(hz * seconds)
        for index in range(count):
            delay = start + index / hz - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.publish(frames[index % len(frames)])
        time.sleep(2.0)  # the last outputs and a diagnostics period covering the end
        periods = list(self.diagnostics)
        inference, wait = (
            float(np.median([float(d[key]) for d in periods if key in d]))
            if any(key in d for d in periods) else float('nan')
            for key in ('inference p50 (ms)', 'queue wait p50 (ms)'))
        received = None if None in (received_before, self.received) else \
            self.received - received_before
        return {'published': count, 'received': received, 'latencies': list(self.latencies),
                'inference_ms': inference, 'wait_ms': wait}


def node_command(args):
    """Return the command line of the node under test."""
    command = [sys.executable, '-m', 'defeat_ros.ros.depth_node', '--ros-args',
               '-r', f'__ns:={NAMESPACE}', '-r', f'__node:={NODE_NAME}',
               '-p', f'model:={args.model}', '-p', f'backend:={args.backend}',
               '-p', f'pose_refinement:={args.pose_refinement}']
    if args.input_qos:
        command += ['-p', f'input_qos:={args.input_qos}']
    return command


def run_camera(args):
    """
    Run the camera: start the node, publish every size and rate, print a JSON line per row.

    The transport configuration is already in this process's environment; the node inherits it.
    """
    frames = {size: np.load(Path(args.frames_dir) / f'{size}.npy')
              for size in args.sizes.split(',')}
    rates = [float(r) for r in args.rates.split(',')]
    rclpy.init()
    client = Client(args.camera_qos)
    time.sleep(1.0)  # the camera is on the graph before the node subscribes
    node = subprocess.Popen(node_command(args), stdin=subprocess.DEVNULL)
    try:
        problem = client.start(frames[args.sizes.split(',')[0]], node)
        for size, sized_frames in frames.items():
            if not problem:
                client.warm(sized_frames)
            for hz in rates:
                row = {'size': size, 'hz': hz, 'problem': problem}
                if problem:
                    row.update(published=0, received=None, latencies=[],
                               inference_ms=float('nan'), wait_ms=float('nan'))
                else:
                    row.update(client.run(sized_frames, hz, args.seconds))
                row['node_input'] = client.node_input_reliability()
                print(json.dumps(row), flush=True)
    finally:
        client.executor.shutdown(timeout_sec=5.0)
        rclpy.try_shutdown()
        stop_process(node)


def stop_process(process, timeout=30.0):
    """Terminate ``process`` and wait for it; kill it when it outlives ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def prepare_frames(args, sizes, folder):
    """Render frames at --width x --height, scale them to each size, save them in ``folder``."""
    sequence = render_sequence(WorldConfig(width=args.width, height=args.height, frames=20))
    rendered = list(images_uint8(sequence.images))
    frames = {}
    for size in sizes:
        width, height = parse_size(size)
        frames[size] = np.stack([
            frame if frame.shape[:2] == (height, width) else
            cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
            for frame in rendered])
        np.save(Path(folder) / f'{size}.npy', frames[size])
    return frames


def row_text(row, transport, camera_qos, bare_p50):
    """Format one table row."""
    published = row['published']
    p50, p99 = percentiles(row['latencies'])
    delivered = f'{len(row["latencies"]) / published:.0%} ({len(row["latencies"])} of ' \
        f'{published})' if published else f'0 ({row["problem"]})'
    received = '-' if row['received'] is None or not published else \
        f'{min(row["received"], published) / published:.0%}'
    overhead = p50 - (row['wait_ms'] if row['wait_ms'] == row['wait_ms'] else 0.0) - bare_p50
    overhead = f'{ms(overhead)} ms ({overhead / bare_p50:+.0%})' if overhead == overhead else '-'
    return (f'| {row["size"]} | {row["hz"]:g} Hz | {transport} | {camera_qos} | '
            f'{row["node_input"]} | {delivered} | {received} | {ms(p50)} / {ms(p99)} ms | '
            f'{ms(bare_p50)} ms | {ms(row["inference_ms"])} ms | {ms(row["wait_ms"])} ms | '
            f'{overhead} |')


def main():
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--model', help='model directory (default: random weights)')
    parser.add_argument('--width', type=int, default=640,
                        help='size of the random model and of the rendered frames')
    parser.add_argument('--height', type=int, default=192)
    parser.add_argument('--backend', default='onnxruntime')
    parser.add_argument('--seconds', type=float, default=10.0, help='publishing time per row')
    parser.add_argument('--rates',
                        help='input rates (Hz), comma-separated (default 1,10,30; with --matrix '
                             f'{MATRIX["rates"]}); the 1 Hz run shows the overhead without '
                             'waiting for an inference in progress')
    parser.add_argument('--sizes', help='input sizes WIDTHxHEIGHT, comma-separated (default '
                                        f'--width x --height; with --matrix {MATRIX["sizes"]})')
    parser.add_argument('--transports',
                        help='Fast DDS configurations set for the camera and the node, '
                             f'comma-separated: {", ".join(CONFIGS)} (default: default; with '
                             f'--matrix {MATRIX["transports"]})')
    parser.add_argument('--camera-qos',
                        help='camera publisher QoS, comma-separated: reliable, best_effort '
                             f'(default reliable; with --matrix {MATRIX["camera_qos"]})')
    parser.add_argument('--input-qos', help="the node's input_qos (default: the node's)")
    parser.add_argument('--pose-refinement', default='direct', choices=POSE_REFINEMENTS,
                        help="the node's and the bare call's pose_refinement")
    parser.add_argument('--matrix', action='store_true',
                        help='measure every size, rate, transport and camera QoS listed above '
                             '(options given explicitly win)')
    parser.add_argument('--role', choices=['camera'], help=argparse.SUPPRESS)
    parser.add_argument('--frames-dir', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == 'camera':
        return run_camera(args)
    defaults = MATRIX if args.matrix else {
        'sizes': f'{args.width}x{args.height}', 'rates': '1,10,30', 'transports': 'default',
        'camera_qos': 'reliable'}
    sizes = args.sizes or defaults['sizes']
    sizes = [f'{w}x{h}' for w, h in (parse_size(s) for s in sizes.split(',') if s)]
    rates = [float(r) for r in (args.rates or defaults['rates']).split(',')]
    transports = listed(args.transports or defaults['transports'], CONFIGS, '--transports')
    camera_qoses = listed(args.camera_qos or defaults['camera_qos'], CAMERA_QOS,
                          '--camera-qos')

    print(f'machine: {machine()}')
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model
        if not model_dir:
            torch.manual_seed(0)
            config = ModelConfig(height=args.height, width=args.width)
            model_dir = str(save_model(DeFeatNet(config), Path(scratch) / 'model'))
        frames = prepare_frames(args, sizes, scratch)
        perception = Perception(model_dir, args.backend, pose_refinement=args.pose_refinement)
        leave_cpu_to_backend(perception.backend)  # as the node does
        backend = perception.backend.name
        bare = {(size, hz): percentiles(time_perception(
                    perception, list(frames[size]), hz, bare_repeats(hz, args)))
                for size in sizes for hz in rates}
        del perception
        print(f'model {args.model or "random ResNet-18"} ({backend}), depth + pose per frame '
              f'(pose_refinement {args.pose_refinement}); '
              f'node input_qos {args.input_qos or "(its default)"}; {args.seconds:g} s per '
              'row; preliminary when the load average is above 0')
        print('| input | rate | transport | camera QoS | node subscribed | returned as depth | '
              'node received | end-to-end p50 / p99 | bare Perception p50 (paced) | '
              'node inference p50 | queue wait p50 | ROS overhead |')
        print('|---|---|---|---|---|---|---|---|---|---|---|---|')
        camera_args = [f'--model={model_dir}', f'--backend={args.backend}',
                       f'--pose-refinement={args.pose_refinement}',
                       f'--seconds={args.seconds}', f'--sizes={",".join(sizes)}',
                       f'--rates={",".join(f"{r:g}" for r in rates)}',
                       f'--frames-dir={scratch}']
        if args.input_qos:
            camera_args.append(f'--input-qos={args.input_qos}')
        for transport in transports:
            for camera_qos in camera_qoses:
                camera = subprocess.Popen(
                    [sys.executable, __file__, '--role=camera', f'--camera-qos={camera_qos}',
                     *camera_args],
                    env=child_environment(transport, random_domain_id()),
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
                for line in camera.stdout:
                    if line.startswith('{'):
                        row = json.loads(line)
                        print(row_text(row, transport, camera_qos,
                                       bare[(row['size'], row['hz'])][0]), flush=True)
                if camera.wait() != 0:
                    print(f'(the camera process for {transport}, {camera_qos} exited with '
                          f'{camera.returncode})', flush=True)


if __name__ == '__main__':
    main()
