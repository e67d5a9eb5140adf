"""
Soak: the node's memory over a long stream with every output subscribed.

    .venv/bin/python benchmarks/ros_soak.py --model models/default --minutes 30

The node runs as its own process with its defaults (``python -m defeat_ros.ros.depth_node``);
this process is the camera (synthetic street frames, rgb8 + CameraInfo, reliable, stamped
with the wall time) and subscribes to every output the node offers, so it computes all of
them. Every ``--sample-s`` seconds it prints the node's anonymous resident memory
(``RssAnon`` of /proc/<pid>/status: the heap, not the mapped libraries and model files), the
frames returned as depth and what every output topic delivered. At the end: the memory right
after ``--warmup-minutes``, its maximum and its last value, and the slope of a straight line
fitted to the samples after warm-up (MB per 10 minutes). Flat means a slope within the
sampling noise.
"""

import argparse
import os
import subprocess
import sys
import threading
import time

from defeat_ros.camera.frame_step import OUTPUT_TOPICS
from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.ros.graph import ros_environment
from defeat_ros.ros.message_bridge import rclpy_class
from defeat_ros.runtime.backends import cpu_model
import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from ros_latency import camera_info, image_message
from sensor_msgs.msg import CameraInfo, Image

NAMESPACE = '/soak'


def anonymous_rss_mb(pid):
    """Return the anonymous resident memory (MB) of process ``pid``."""
    with open(f'/proc/{pid}/status') as stream:
        for line in stream:
            if line.startswith('RssAnon:'):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f'no RssAnon for process {pid}')


class Camera:
    """Publishes frames and counts what every output topic delivers."""

    def __init__(self):
        """Create the publishers and one subscription per output, spun in a thread."""
        self.node = rclpy.create_node('soak_camera', namespace=NAMESPACE)
        self.images = self.node.create_publisher(Image, 'image', 10)
        self.infos = self.node.create_publisher(CameraInfo, 'camera_info', 10)
        self.counts = dict.fromkeys(OUTPUT_TOPICS, 0)
        self.lock = threading.Lock()
        for key, (msgtype, topic) in OUTPUT_TOPICS.items():
            self.node.create_subscription(rclpy_class(msgtype), topic,
                                          lambda _, key=key: self._count(key), 10)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def _count(self, key):
        with self.lock:
            self.counts[key] += 1

    def publish(self, pixels):
        """Publish one frame with its CameraInfo, stamped now."""
        image = image_message(pixels)
        self.infos.publish(camera_info(image))
        self.images.publish(image)

    def snapshot(self):
        """Return a copy of the per-output counts."""
        with self.lock:
            return dict(self.counts)


def main():
    """Stream for --minutes, sampling the node's memory; print the samples and the trend."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--model', default='', help="model directory (default: the node's)")
    parser.add_argument('--minutes', type=float, default=30.0)
    parser.add_argument('--warmup-minutes', type=float, default=2.0)
    parser.add_argument('--hz', type=float, default=30.0)
    parser.add_argument('--width', type=int, default=1242)
    parser.add_argument('--height', type=int, default=375)
    parser.add_argument('--sample-s', type=float, default=60.0)
    args = parser.parse_args()
    frames = list(images_uint8(render_sequence(
        WorldConfig(width=args.width, height=args.height, frames=20)).images))
    ros_environment()
    command = [sys.executable, '-m', 'defeat_ros.ros.depth_node', '--ros-args',
               '-r', f'__ns:={NAMESPACE}']
    if args.model:
        command += ['-p', f'model:={args.model}']
    node = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    rclpy.init()
    camera = Camera()
    print(f'{cpu_model()}, {os.cpu_count()} cores; {args.width}x{args.height} at {args.hz:g} '
          f'Hz for {args.minutes:g} min, every output subscribed')
    print(f'{"minute":>7} {"RssAnon (MB)":>13} {"depth/s":>8}  outputs delivered in the period')
    samples = []
    try:
        start = time.monotonic()
        next_sample, previous = start + args.sample_s, camera.snapshot()
        index = 0
        while time.monotonic() - start < args.minutes * 60.0 and node.poll() is None:
            camera.publish(frames[index % len(frames)])
            index += 1
            time.sleep(max(0.0, start + index / args.hz - time.monotonic()))
            if time.monotonic() >= next_sample:
                minute, rss = (time.monotonic() - start) / 60.0, anonymous_rss_mb(node.pid)
                counts = camera.snapshot()
                delivered = {k: counts[k] - previous[k] for k in counts}
                samples.append((minute, rss))
                print(f'{minute:7.1f} {rss:13.1f} {delivered["depth"] / args.sample_s:8.1f}  '
                      + ', '.join(f'{OUTPUT_TOPICS[k][1]} {v}' for k, v in delivered.items()),
                      flush=True)
                next_sample, previous = next_sample + args.sample_s, counts
    finally:
        camera.executor.shutdown(timeout_sec=5.0)
        rclpy.try_shutdown()
        node.terminate()
        node.wait(timeout=60)
    after = [(m, r) for m, r in samples if m >= args.warmup_minutes]
    if len(after) < 2:
        raise SystemExit('too few samples after warm-up: run longer')
    minutes, rss = np.array(after).T
    slope = np.polyfit(minutes, rss, 1)[0]
    print(f'\nafter warm-up ({args.warmup_minutes:g} min): {rss[0]:.1f} MB; max {rss.max():.1f} '
          f'MB; last {rss[-1]:.1f} MB; trend {10 * slope:+.2f} MB per 10 min '
          f'(node exit status {node.returncode})')


if __name__ == '__main__':
    main()
