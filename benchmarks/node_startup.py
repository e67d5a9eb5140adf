#!/usr/bin/env python3
"""
Start-up: seconds from launching the node's process to its first depth message.

    .venv/bin/python benchmarks/node_startup.py --model models/default --backends auto,onnxruntime

This process is the camera (synthetic street frames, rgb8 + CameraInfo at ``--hz``, publishing
before the node starts, as a camera driver would) and subscribes to the node's depth; the node
runs as its own process with its defaults and the given ``backend``. Each backend is started
``--starts`` times in a row: the first start may export ONNX graphs or time the CPU backends
for ``auto``, later ones find them done (a current ONNX file is not exported again; ``auto``'s
choice is remembered per model and machine). Printed per start: seconds to the first depth
message, and once, the seconds the node's imports take on their own.
"""

import argparse
import os
import subprocess
import sys
import threading
import time

from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.ros.graph import ros_environment
from defeat_ros.runtime.backends import cpu_model
import rclpy
from rclpy.executors import SingleThreadedExecutor
from ros_latency import camera_info, image_message, stop_process
from sensor_msgs.msg import CameraInfo, Image

NAMESPACE = '/startup'


class Camera:
    """Publishes frames at a fixed rate in a thread and notes when depth first comes back."""

    def __init__(self, frames, hz):
        """Create the publishers and the depth subscription; start publishing."""
        self.node = rclpy.create_node('startup_camera', namespace=NAMESPACE)
        self.images = self.node.create_publisher(Image, 'image', 10)
        self.infos = self.node.create_publisher(CameraInfo, 'camera_info', 10)
        self.first_depth = threading.Event()
        self.node.create_subscription(Image, 'depth/image', lambda _: self.first_depth.set(), 10)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()
        self.running = True
        self.publisher = threading.Thread(target=self._publish, args=(frames, hz), daemon=True)
        self.publisher.start()

    def _publish(self, frames, hz):
        index = 0
        while self.running:
            image = image_message(frames[index % len(frames)])
            self.infos.publish(camera_info(image))
            self.images.publish(image)
            index += 1
            time.sleep(1.0 / hz)

    def stop(self):
        """Stop publishing (the thread ends before rclpy does) and spinning."""
        self.running = False
        self.publisher.join()
        self.executor.shutdown(timeout_sec=5.0)


def seconds_to_first_depth(camera, command, timeout):
    """Launch ``command``, wait for its first depth message; return the seconds (None: none)."""
    camera.first_depth.clear()
    start = time.monotonic()
    node = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        arrived = camera.first_depth.wait(timeout)
        return time.monotonic() - start if arrived else None
    finally:
        stop_process(node)


def import_seconds():
    """Seconds a fresh interpreter takes to import the node's module."""
    start = time.monotonic()
    subprocess.run([sys.executable, '-c', 'import defeat_ros.ros.depth_node'], check=True)
    return time.monotonic() - start


def main():
    """Start the node --starts times per backend and print the seconds to its first depth."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--model', default='', help="model directory (default: the node's)")
    parser.add_argument('--backends', default='auto', help='comma-separated node backends')
    parser.add_argument('--starts', type=int, default=3)
    parser.add_argument('--hz', type=float, default=30.0)
    parser.add_argument('--width', type=int, default=1242)
    parser.add_argument('--height', type=int, default=375)
    parser.add_argument('--timeout', type=float, default=300.0)
    args = parser.parse_args()
    frames = list(images_uint8(render_sequence(
        WorldConfig(width=args.width, height=args.height, frames=10)).images))
    ros_environment()
    print(f'{cpu_model()}, {os.cpu_count()} cores; camera {args.width}x{args.height} at '
          f'{args.hz:g} Hz; the node subscribes to it and publishes depth')
    print(f'importing the node module alone: {import_seconds():.2f} s')
    rclpy.init()
    camera = Camera(frames, args.hz)
    try:
        print('| backend | start | s to first depth |')
        print('| --- | --- | --- |')
        for backend in args.backends.split(','):
            command = [sys.executable, '-m', 'defeat_ros.ros.depth_node', '--ros-args',
                       '-r', f'__ns:={NAMESPACE}', '-p', f'backend:={backend}']
            if args.model:
                command += ['-p', f'model:={args.model}']
            for start in range(1, args.starts + 1):
                seconds = seconds_to_first_depth(camera, command, args.timeout)
                shown = f'{seconds:.2f}' if seconds is not None else f'none in {args.timeout:g}'
                print(f'| {backend} | {start} | {shown} |', flush=True)
    finally:
        camera.stop()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
