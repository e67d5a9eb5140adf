"""
Image transport between two processes, without the model: frames delivered and latency.

    .venv/bin/python benchmarks/ros_transport.py --repeats 3 --seconds 6
    .venv/bin/python benchmarks/ros_transport.py --sizes 1920x1080 --configs default,profile
    .venv/bin/python benchmarks/ros_transport.py --camera-qos best_effort --placements camera

A camera process publishes sensor_msgs/Image rgb8 frames at a fixed rate, stamped with the wall
time of publication, and a subscriber process records when each arrives: the DDS transport of
the image and rclpy's (de)serialisation, no inference. Each transport configuration
(``--configs``, see ``CONFIGS``) is applied to both processes (``both``), to the camera only
(``camera``) and to the subscriber only (``subscriber``), the other process keeping Fast DDS's
defaults as a third-party driver or tool would: a configuration that is not interoperable with
default nodes shows 0 frames there. ``default`` is run once (both processes default).

The camera publishes with ``--camera-qos`` (``reliable``: rclpy's DEFAULT preset, keep last 10;
``best_effort``: SENSOR_DATA, keep last 5); the subscriber uses ``--subscriber-qos`` (an rclpy
preset: BEST_AVAILABLE, the node's ``input_qos``, takes the reliability of the publishers
present when it is created, so it is created once the camera's publisher is seen, as for a node
started after its camera). The camera starts publishing once it has matched the subscriber;
frames that never arrive are counted as lost; a camera that never matches its subscriber (the
transports do not talk) delivers 0.

Each row is measured ``--repeats`` times with new processes. Printed per row: frames delivered
(all runs, and the worst run), latency p50 / p99 over all runs (publication to the subscriber's
callback), the range of the runs' p50 and the camera's publish() call p50 (a reliable
publisher blocks while its history is full). Rows take ``--seconds`` plus about 5 s of start
each; 0-frame rows wait ``--match-timeout`` first.

Every pair of processes gets its own random ROS_DOMAIN_ID. ``ROS_AUTOMATIC_DISCOVERY_RANGE`` is
removed from their environment unless ``--discovery-range`` sets it: with ``LOCALHOST``
rmw_fastrtps installs transports of its own and ``FASTDDS_BUILTIN_TRANSPORTS`` is ignored
(the XML profile still applies).
"""

import argparse
import json
import os
from pathlib import Path
import platform
import random
import subprocess
import sys
import threading
import time

from defeat_ros.runtime.backends import cpu_model
import numpy as np

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / 'config' / 'fastdds_large_images.xml'

CONFIGS = {
    'default': {},
    'profile': {'FASTDDS_DEFAULT_PROFILES_FILE': str(PROFILE)},
    'default_4MB': {'FASTDDS_BUILTIN_TRANSPORTS': 'DEFAULT?sockets_size=4MB'},
    'large_data': {'FASTDDS_BUILTIN_TRANSPORTS': 'LARGE_DATA'},
}
"""Transport configurations: the environment variables each sets in a process that uses it."""

TRANSPORT_VARIABLES = ('FASTDDS_BUILTIN_TRANSPORTS', 'FASTDDS_DEFAULT_PROFILES_FILE',
                       'FASTRTPS_DEFAULT_PROFILES_FILE', 'RMW_FASTRTPS_USE_QOS_FROM_XML',
                       'ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_LOCALHOST_ONLY')
"""Removed from every child process's environment before a configuration is applied."""

PLACEMENTS = ('both', 'camera', 'subscriber')


def transport_limits():
    """Describe the kernel's socket buffer limits and the size of /dev/shm."""
    limits = []
    for name in ('rmem_max', 'wmem_max'):
        try:
            limits.append(f'{name} {int(Path("/proc/sys/net/core", name).read_text()) >> 10} KiB')
        except (OSError, ValueError):
            limits.append(f'{name} unknown')
    try:
        shm = os.statvfs('/dev/shm')
        limits.append(f'/dev/shm {shm.f_blocks * shm.f_frsize >> 20} MiB')
    except OSError:
        pass
    return ', '.join(limits)


def machine():
    """Describe the CPU, core count, load, kernel socket buffer limits and /dev/shm."""
    load = ', '.join(f'{x:.1f}' for x in os.getloadavg())
    return (f'{cpu_model()}, {os.cpu_count()} cores, load average {load}; {transport_limits()}; '
            f'Python {platform.python_version()}')


def child_environment(config, domain_id, discovery_range=None):
    """
    Return the environment of a child process using transport configuration ``config``.

    :param config: a name in ``CONFIGS`` (``default``: none of the transport variables set).
    :param discovery_range: ROS_AUTOMATIC_DISCOVERY_RANGE, or None to leave it unset.
    """
    env = {k: v for k, v in os.environ.items() if k not in TRANSPORT_VARIABLES}
    env.update(CONFIGS[config])
    env['ROS_DOMAIN_ID'] = str(domain_id)
    if discovery_range:
        env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = discovery_range
    return env


def random_domain_id():
    """Return a ROS_DOMAIN_ID unlikely to be used by anyone else on the machine."""
    return random.randint(150, 199)


def parse_size(text):
    """Return (width, height) from ``WIDTHxHEIGHT``."""
    width, height = text.lower().split('x')
    return int(width), int(height)


def summary(latencies, published):
    """Return the delivered fraction and latency p50 / p99 in ms (NaN when nothing arrived)."""
    delivered = len(latencies) / published if published else 0.0
    if not latencies:
        return delivered, float('nan'), float('nan')
    p50, p99 = (1000.0 * float(np.percentile(latencies, q)) for q in (50, 99))
    return delivered, p50, p99


def milliseconds(value):
    """Format a latency in ms, ``-`` for NaN."""
    return '-' if value != value else f'{value:.1f}'


def camera_qos(name):
    """Return the camera publisher's QoSProfile: ``reliable`` or ``best_effort``."""
    from rclpy.qos import QoSPresetProfiles
    if name == 'reliable':
        return QoSPresetProfiles.DEFAULT.value
    if name == 'best_effort':
        return QoSPresetProfiles.SENSOR_DATA.value
    raise ValueError(f'camera QoS {name!r}: use reliable or best_effort')


def run_camera(args):
    """Run the camera: wait for the subscriber, publish, print a JSON line of what it did."""
    import rclpy
    from sensor_msgs.msg import Image

    width, height = parse_size(args.size)
    rclpy.init()
    node = rclpy.create_node('transport_camera')
    publisher = node.create_publisher(Image, 'image', camera_qos(args.camera_qos))
    rng = np.random.default_rng(0)
    messages = []
    for _ in range(2):
        message = Image(height=height, width=width, encoding='rgb8', step=3 * width)
        message.data = rng.integers(0, 256, (height, width, 3), np.uint8).tobytes()
        messages.append(message)
    deadline = time.monotonic() + args.match_timeout
    while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    matched = publisher.get_subscription_count() > 0
    time.sleep(1.0)  # the subscriber's side of the match
    count = int(args.rate * args.seconds) if matched else 0
    publish_s = []
    start = time.monotonic()
    for index in range(count):
        delay = start + index / args.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        message = messages[index % len(messages)]
        message.header.frame_id = str(index)
        message.header.stamp.sec, message.header.stamp.nanosec = divmod(time.time_ns(), 10 ** 9)
        before = time.perf_counter()
        publisher.publish(message)
        publish_s.append(time.perf_counter() - before)
    time.sleep(1.0)  # reliable repairs need the writer alive
    print(json.dumps({'matched': matched, 'published': count,
                      'publish_ms_p50': 1000.0 * float(np.median(publish_s)) if publish_s
                      else float('nan')}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


def run_subscriber(args):
    """Run the subscriber: record latencies until stdin closes, print them as a JSON line."""
    import rclpy
    from rclpy.qos import QoSPresetProfiles
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node('transport_subscriber')
    received = {}

    def on_image(message):
        stamp = message.header.stamp.sec * 10 ** 9 + message.header.stamp.nanosec
        received.setdefault(message.header.frame_id, (time.time_ns() - stamp) * 1e-9)

    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    print('ready', flush=True)
    deadline = time.monotonic() + args.match_timeout
    while node.count_publishers('image') == 0 and time.monotonic() < deadline:
        time.sleep(0.05)  # BEST_AVAILABLE follows the publishers known at creation
    node.create_subscription(Image, 'image', on_image,
                             QoSPresetProfiles[args.subscriber_qos].value)
    while not done.is_set():
        rclpy.spin_once(node, timeout_sec=0.1)
    print(json.dumps({'latencies': list(received.values())}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


def measure(size, rate, camera_config, subscriber_config, args):
    """
    Run one camera and one subscriber process.

    :return: dict with published, latencies (s), matched and publish_ms_p50.
    """
    domain_id = random_domain_id()
    common = [f'--size={size}', f'--rate={rate}', f'--seconds={args.seconds}',
              f'--camera-qos={args.camera_qos}', f'--subscriber-qos={args.subscriber_qos}',
              f'--match-timeout={args.match_timeout}']
    subscriber = subprocess.Popen(
        [sys.executable, __file__, '--role=subscriber', *common],
        env=child_environment(subscriber_config, domain_id, args.discovery_range),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    try:
        subscriber.stdout.readline()  # 'ready'
        camera = subprocess.run(
            [sys.executable, __file__, '--role=camera', *common],
            env=child_environment(camera_config, domain_id, args.discovery_range),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, text=True, timeout=args.seconds + args.match_timeout + 60)
        lines = camera.stdout.strip().splitlines()
        result = json.loads(lines[-1]) if camera.returncode == 0 and lines else \
            {'matched': False, 'published': 0, 'publish_ms_p50': float('nan')}
        time.sleep(0.5)
        out, _ = subscriber.communicate('', timeout=60)
        lines = out.strip().splitlines()
        result['latencies'] = json.loads(lines[-1])['latencies'] if lines and \
            lines[-1].startswith('{') else []
        return result
    finally:
        if subscriber.poll() is None:
            subscriber.kill()
            subscriber.wait()


def row_text(size, rate, config, placement, runs):
    """Format the table row of ``runs`` (results of :func:`measure`) of one configuration."""
    latencies = [x for run in runs for x in run['latencies']]
    published = sum(run['published'] for run in runs)
    delivered, p50, p99 = summary(latencies, published)
    each = [summary(run['latencies'], run['published']) for run in runs if run['matched']]
    if len(each) < len(runs):
        shown = f'0 (no match in {len(runs) - len(each)} of {len(runs)} runs)'
    else:
        shown = f'{delivered:.0%} of {published}'
        if len(runs) > 1:
            shown += f' (worst run {min(run[0] for run in each):.0%})'
    p50s = [run[1] for run in each if run[1] == run[1]]
    spread = f'{min(p50s):.1f} to {max(p50s):.1f} ms' if len(p50s) > 1 else '-'
    publish = float(np.nanmedian([run['publish_ms_p50'] for run in runs])) \
        if any(run['published'] for run in runs) else float('nan')
    return (f'| {size} | {rate:g} Hz | {config} | {placement} | {shown} | '
            f'{milliseconds(p50)} / {milliseconds(p99)} ms | {spread} | '
            f'{milliseconds(publish)} ms |')


def rows(args):
    """Yield (config, placement, camera config, subscriber config) for each row to measure."""
    for config in args.configs.split(','):
        if config not in CONFIGS:
            raise SystemExit(f'--configs: unknown {config!r}; use {", ".join(CONFIGS)}')
        placements = ['both'] if config == 'default' else args.placements.split(',')
        for placement in placements:
            if placement not in PLACEMENTS:
                raise SystemExit(f'--placements: unknown {placement!r}; use '
                                 f'{", ".join(PLACEMENTS)}')
            camera = config if placement in ('both', 'camera') else 'default'
            subscriber = config if placement in ('both', 'subscriber') else 'default'
            yield config, placement, camera, subscriber


def main():
    """Measure and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--sizes', default='1242x375,1920x1080',
                        help='image sizes WIDTHxHEIGHT, comma-separated')
    parser.add_argument('--rates', default='30', help='camera rates (Hz), comma-separated')
    parser.add_argument('--seconds', type=float, default=10.0, help='publishing time per run')
    parser.add_argument('--repeats', type=int, default=1,
                        help='runs per row (new processes each time); latencies are pooled')
    parser.add_argument('--configs', default='default,profile,large_data',
                        help='transport configurations, comma-separated: ' + ', '.join(CONFIGS))
    parser.add_argument('--placements', default=','.join(PLACEMENTS),
                        help='which processes use the configuration: both, camera, subscriber')
    parser.add_argument('--camera-qos', default='reliable', choices=['reliable', 'best_effort'])
    parser.add_argument('--subscriber-qos', default='BEST_AVAILABLE',
                        help='rclpy QoS preset of the subscriber (the node: input_qos)')
    parser.add_argument('--match-timeout', type=float, default=10.0,
                        help='seconds the camera waits for the subscriber before giving up')
    parser.add_argument('--discovery-range', choices=['SUBNET', 'LOCALHOST', 'OFF'],
                        help='ROS_AUTOMATIC_DISCOVERY_RANGE of both processes (default: unset, '
                             'which is SUBNET); LOCALHOST shows rmw_fastrtps overriding the '
                             'transports')
    parser.add_argument('--role', choices=['camera', 'subscriber'], help=argparse.SUPPRESS)
    parser.add_argument('--size', help=argparse.SUPPRESS)
    parser.add_argument('--rate', type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == 'camera':
        return run_camera(args)
    if args.role == 'subscriber':
        return run_subscriber(args)

    print(f'machine: {machine()}')
    print(f'camera QoS {args.camera_qos}, subscriber QoS {args.subscriber_qos}, '
          f'{args.repeats} x {args.seconds:g} s per row, ROS_AUTOMATIC_DISCOVERY_RANGE '
          f'{args.discovery_range or "unset"}; profile {PROFILE.relative_to(REPO)}')
    print('| size | rate | transport | used by | delivered | latency p50 / p99 | '
          'p50 range of the runs | publish() p50 |')
    print('|---|---|---|---|---|---|---|---|')
    for size in args.sizes.split(','):
        parse_size(size)
        for rate in (float(r) for r in args.rates.split(',')):
            for config, placement, camera, subscriber in rows(args):
                print(row_text(size, rate, config, placement, [
                    measure(size, rate, camera, subscriber, args)
                    for _ in range(args.repeats)]), flush=True)


if __name__ == '__main__':
    main()
