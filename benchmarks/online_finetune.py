#!/usr/bin/env python3
"""
Online fine-tuning inside the running node on a synthetic drive: the model before and after.

The DeFeat-Net node (:class:`~defeat_ros.ros.depth_node.DepthNode`, in ``/camera``) runs with
``online_finetune: true`` and the drive's wheel odometry as its ``speed_topic`` (with
``--camera-height``: none, and ``scale_mode`` camera_height at that height), fed by a
:class:`~defeat_ros.ros.bag_player.BagPlayer` that plays the drive in a loop at ``--rate`` times
its recorded pace: real rclpy nodes talking over DDS on a private graph in this process, as
``defeat-ros demo`` runs them. The drive is rendered with ``defeat-ros synth``'s code
(``--frames`` frames of street ``--seed`` at 640x192, by day or with ``--night``) unless
``--bag`` names one written by ``defeat-ros synth --format bag`` (topics ``/camera/image_raw``,
``/camera/camera_info``, ``/vehicle/wheel_odometry``). The online learning rate, step rate,
replay and validation interval are the node's defaults unless flags set them. Playback stops after
``--seconds`` (or once ``--swaps`` models were accepted); the fine-tuning's counters come from
the node's ``/diagnostics`` (status ``/camera/defeat: online fine-tuning``), the accepted
``step_<n>`` model directories from its swap events and from ``online_checkpoint_dir``.

Then ``defeat-ros evaluate`` scores the source model and the last accepted one on its unseen
street (seed 1000, day and night), with and without median scaling. Printed: the machine, wall
times, the node's frames and the fine-tuning's steps, swaps and rollbacks, and a markdown table
with one row per model and lighting: AbsRel of median-scaled depth, AbsRel of metric depth (as
predicted), delta < 1.25 (median-scaled), the depth scale (predicted over true depth,
1 / ``ratio_median``: 1 is metric depth), the 5-frame snippet ATE in metres (``ate_mean``), and
of the whole trajectory the ``length_scale`` (true over predicted path length: 1 is metric
odometry) and the sim(3) alignment's scale (which mixes scale with drift). Without a swap there
is nothing to compare: it says so and scores the source model only.

    .venv/bin/python benchmarks/online_finetune.py                      # 300 s, node defaults
    .venv/bin/python benchmarks/online_finetune.py --seconds 60 --frames 60 --validate-every 5
    .venv/bin/python benchmarks/online_finetune.py --bag drives/day/bag --swaps 3 --out results
"""

import argparse
import json
import os
from pathlib import Path
import re
import subprocess
import sys
import tempfile
import time

from defeat_ros.apps.synth import run_synth
from defeat_ros.camera.model_location import model_option
from defeat_ros.data.sequence_bag import WHEEL_ODOMETRY_TOPIC
from defeat_ros.data.street_world import WorldConfig
from defeat_ros.messages.typestore import ODOMETRY
from defeat_ros.ros.bag_player import BagPlayer
from defeat_ros.ros.depth_node import DepthNode, DIAGNOSTICS_PERIOD_S, NODE_NAME
from defeat_ros.ros.graph import publisher_matched, ros_context, spinning, wait_for
from defeat_ros.ros.playback_pipeline import NAMESPACE
from defeat_ros.runtime.backends import cpu_model
from diagnostic_msgs.msg import DiagnosticArray
import rclpy
from rclpy.parameter import Parameter

ONLINE_STATUS = f'{NAMESPACE}/{NODE_NAME}: online fine-tuning'
PERCEPTION_STATUS = f'{NAMESPACE}/{NODE_NAME}: perception'
SWAP_EVENT = re.compile(r'swapped in (step_\d+)')
"""The online status message of a swap (its latest event), naming the accepted directory."""

ONLINE_PARAMETERS = ('online_step_rate', 'online_validate_every', 'online_learning_rate',
                     'online_replay', 'online_buffer_size')
"""The node's online learning settings, printed as it ran with them."""

COLUMNS = (('AbsRel (median-scaled)', '.3f'), ('AbsRel (metric)', '.3f'),
           ('delta<1.25', '.3f'), ('depth scale', '.3f'), ('ATE-5 (m)', '.4f'),
           ('length scale', '.3f'), ('sim(3) scale', '.3f'))
"""The table's number columns and their formats (see :func:`row_values`)."""


def parse_args(argv):
    """Return the parsed command line."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--model', default='',
                        help='source model directory (default: models/default)')
    parser.add_argument('--bag', default='', help='drive to play, as `defeat-ros synth '
                        '--format bag` writes it (default: render one)')
    parser.add_argument('--frames', type=int, default=200, help='frames of the rendered drive')
    parser.add_argument('--seed', type=int, default=7, help='street of the rendered drive')
    parser.add_argument('--night', action='store_true', help='render the drive by night')
    parser.add_argument('--seconds', type=float, default=300.0,
                        help='longest time the node fine-tunes (s)')
    parser.add_argument('--swaps', type=int, default=0,
                        help='stop after this many accepted models (0: run all --seconds)')
    parser.add_argument('--rate', type=float, default=1.0,
                        help='playback speed factor of the drive')
    parser.add_argument('--step-rate', type=float,
                        help='online_step_rate: most training steps per second (node default)')
    parser.add_argument('--validate-every', type=int,
                        help='online_validate_every: steps between validations (node default)')
    parser.add_argument('--learning-rate', type=float,
                        help='online_learning_rate (node default)')
    parser.add_argument('--replay', type=float,
                        help="online_replay: share of draws from the model's training data "
                        '(node default)')
    parser.add_argument('--camera-height', type=float, default=0.0,
                        help='no speed_topic: scale_mode camera_height at this height (m) '
                        'instead, the metric start of a model of arbitrary scale by the road')
    parser.add_argument('--out', default='', help='a new folder to keep the drive, the '
                        'accepted models and the evaluations in (default: a temporary one)')
    return parser.parse_args(argv)


def render_drive(out, args):
    """Render the synthetic drive of ``args`` as a rosbag2 under ``out``; return the bag."""
    lighting = 'night' if args.night else 'day'
    world = WorldConfig(frames=args.frames, seed=args.seed)
    run_synth(out, world, conditions=(lighting,), formats=('bag',))
    return Path(out) / lighting / 'bag'


class DiagnosticsListener:
    """A node that keeps the DepthNode's latest statuses and the models its swaps accepted."""

    def __init__(self, context):
        """Create the node and subscribe to ``/diagnostics``."""
        self.node = rclpy.create_node('online_finetune_benchmark', context=context)
        self.latest = {}
        """Status name -> {key: value} of the latest status of that name."""
        self.messages = {}
        """Status name -> message of the latest status of that name."""
        self.accepted = []
        """``step_<n>`` names of the swap events, in the order they were seen."""
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics,
                                      100)

    def _on_diagnostics(self, array):
        """Keep every status's values and note a swap event."""
        for status in array.status:
            self.latest[status.name] = {kv.key: kv.value for kv in status.values}
            self.messages[status.name] = status.message
            swap = SWAP_EVENT.match(status.message) if status.name == ONLINE_STATUS else None
            if swap and swap.group(1) not in self.accepted:
                self.accepted.append(swap.group(1))

    def swaps(self):
        """Return the swaps the latest online status counts (0 before one arrived)."""
        return int(self.latest.get(ONLINE_STATUS, {}).get('swaps', 0))


def fine_tune_in_node(bag, model, checkpoint_dir, args):
    """
    Play ``bag`` in a loop into a fine-tuning DepthNode until ``args.seconds`` or ``args.swaps``.

    Training goes on between the last status and the node's end (its fine-tuning finishes the
    step in progress, which may validate and swap), and two swaps within one diagnostics period
    show only the second: such accepted models are found on disk.

    :return: dict: ``seconds`` of playback, the node's ``settings`` (online parameters),
        ``online`` and ``perception`` (the latest status values), ``event`` (the online
        status's latest message), ``accepted`` (step directory names, oldest first) and
        ``unreported`` (those of them no status named).
    :raises RuntimeError: when the nodes do not find each other or playback fails.
    """
    flags = {'online_step_rate': args.step_rate, 'online_validate_every': args.validate_every,
             'online_learning_rate': args.learning_rate, 'online_replay': args.replay}
    scale = ({'scale_mode': 'camera_height', 'camera_height': args.camera_height}
             if args.camera_height else
             {'speed_topic': WHEEL_ODOMETRY_TOPIC, 'speed_type': ODOMETRY})
    values = {'model': str(model), 'online_finetune': True,
              'online_checkpoint_dir': str(checkpoint_dir), **scale,
              **{name: value for name, value in flags.items() if value is not None}}
    with ros_context() as context:
        node = DepthNode(namespace=NAMESPACE, context=context,
                         parameter_overrides=[Parameter(k, value=v) for k, v in values.items()],
                         cli_args=['--ros-args', '-r', 'image:=image_raw'])
        settings = {name: node.get_parameter(name).value for name in ONLINE_PARAMETERS}
        player = BagPlayer(context=context, parameter_overrides=[
            Parameter('bag', value=str(bag)), Parameter('loop', value=True),
            Parameter('clock', value=False), Parameter('rate', value=float(args.rate))])
        listener = DiagnosticsListener(context)
        with spinning(context, node, player, listener.node):
            if not wait_for(lambda: publisher_matched(node, '/diagnostics')
                            and publisher_matched(player, f'{NAMESPACE}/image_raw')):
                raise RuntimeError('the node, the player and the listener did not discover '
                                   'each other over DDS')
            player.start()
            start = time.monotonic()
            while (time.monotonic() - start < args.seconds
                   and not (args.swaps and listener.swaps() >= args.swaps)):
                if player.finished.wait(1.0):
                    raise RuntimeError(f'playing {bag} failed (see the log above)')
            seconds = time.monotonic() - start
            player.stop()
            time.sleep(1.5 * DIAGNOSTICS_PERIOD_S)  # a last status after the last frame
    # The node is destroyed: its fine-tuning has stopped and every saved model is complete.
    on_disk = {path.name for path in Path(checkpoint_dir).glob('step_*')}
    return {'seconds': seconds, 'settings': settings,
            'online': listener.latest.get(ONLINE_STATUS, {}),
            'perception': listener.latest.get(PERCEPTION_STATUS, {}),
            'event': listener.messages.get(ONLINE_STATUS, ''),
            'accepted': sorted(set(listener.accepted) | on_disk),
            'unreported': sorted(on_disk - set(listener.accepted))}


def evaluate(model, out):
    """
    Score ``model`` with ``defeat-ros evaluate``, with and without median scaling.

    :return: (median-scaled, metric) results.json contents.
    :raises RuntimeError: with the command's output when it fails.
    """
    results = []
    for name, flags in (('median_scaled', []), ('metric', ['--no-median-scaling'])):
        folder = Path(out) / name
        command = [sys.executable, '-m', 'defeat_ros.apps.cli', 'evaluate', str(model),
                   '--out', str(folder), *flags]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f'{" ".join(command)} failed:\n{done.stdout}{done.stderr}')
        results.append(json.loads((folder / 'results.json').read_text()))
    return tuple(results)


def row_values(scaled, metric, lighting):
    """
    Return the numbers of one table row (:data:`COLUMNS`) from two results.json contents.

    :param scaled: results of the median-scaled evaluation (depth, depth scale and poses).
    :param metric: results of the evaluation with ``--no-median-scaling`` (metric AbsRel).
    :param lighting: the condition, 'day' or 'night'.
    """
    depth = scaled['conditions'][lighting]['depth']
    pose = scaled['conditions'][lighting]['pose']
    return (depth['abs_rel'], metric['conditions'][lighting]['depth']['abs_rel'], depth['a1'],
            1.0 / depth['ratio_median'], pose['snippet']['ate_mean'],
            pose['trajectory']['length_scale'], pose['trajectory']['scale'])


def results_table(evaluations):
    """
    Return the markdown table of ``evaluations``: one row per model and lighting condition.

    :param evaluations: list of (model label, median-scaled results, metric results), the
        results as ``defeat-ros evaluate`` writes them to results.json.
    """
    names = ('model', 'lighting', *(name for name, _ in COLUMNS))
    lines = ['| ' + ' | '.join(names) + ' |',
             '| --- | --- |' + ' ---: |' * len(COLUMNS)]
    for label, scaled, metric in evaluations:
        for lighting in scaled['conditions']:
            cells = [format(value, spec) for value, (_, spec) in
                     zip(row_values(scaled, metric, lighting), COLUMNS)]
            lines.append(f'| {label} | {lighting} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def run_summary(run):
    """Return the lines that say what the node did: frames, steps, swaps, rollbacks, events."""
    online, node = run['online'], run['perception']
    settings = ', '.join(f'{name} {value}' for name, value in run['settings'].items())
    steps, seconds = int(online.get('training steps', 0)), run['seconds']
    triplets = ' / '.join(online.get(key, '0') for key in (
        'training triplets', 'held-out triplets', 'triplets with speed'))
    late = ', '.join(run['unreported'])
    note = (f'; {late} in no diagnostics status: accepted between two statuses or while the '
            'node shut down') if late else ''
    return [
        f"node: backend {node.get('backend', '?')}, {node.get('frames received', '?')} frames "
        f"received, {node.get('frames processed', '?')} processed in {seconds:.0f} s; {settings}",
        f'online fine-tuning (last status): {steps} training steps ({steps / seconds:.2f}/s), '
        f"swaps {online.get('swaps', 0)}, rollbacks {online.get('rollbacks', 0)}, accepted "
        f"validation loss {online.get('accepted validation loss', '-')}, training / held-out / "
        f'with speed triplets {triplets}',
        f"latest event: {run['event'] or '-'}",
        f"accepted: {', '.join(run['accepted']) or 'none'}{note}"]


def main(argv=None):
    """Fine-tune in the node, evaluate, print the report; return the exit status."""
    args = parse_args(argv)
    started = time.monotonic()
    model = model_option(args.model)
    with tempfile.TemporaryDirectory(prefix='online_finetune_') as scratch:
        out = Path(args.out or scratch)
        bag = Path(args.bag) if args.bag else render_drive(out / 'drive', args)
        checkpoints = out / 'online'
        run = fine_tune_in_node(bag, model, checkpoints, args)
        evaluation_start = time.monotonic()
        evaluations = [(f'source ({model})', *evaluate(model, out / 'evaluation' / 'source'))]
        if run['accepted']:
            last = checkpoints / run['accepted'][-1]
            evaluations.append((f'online {last.name}',
                                *evaluate(last, out / 'evaluation' / last.name)))
        evaluation_seconds = time.monotonic() - evaluation_start
    load = ', '.join(f'{x:.1f}' for x in os.getloadavg())
    lighting = 'night' if args.night else 'day'
    drive = args.bag or f'synthetic drive (street {args.seed}, {args.frames} frames, {lighting})'
    print(f'\nOnline fine-tuning in the node: {drive} played in a loop at rate {args.rate:g}, '
          + (f'no speed, scale_mode camera_height at {args.camera_height:g} m'
             if args.camera_height else f'speed from {WHEEL_ODOMETRY_TOPIC}')
          + f'; source model {model}')
    print(f'machine: {cpu_model()}, {os.cpu_count()} cores, load average {load}')
    print('\n'.join(run_summary(run)))
    print(f"wall time: {time.monotonic() - started:.0f} s in all, {run['seconds']:.0f} s "
          f'fine-tuning, {evaluation_seconds:.0f} s evaluating')
    if not run['accepted']:
        print(f"\nNO SWAP: no fine-tuned model was accepted in {run['seconds']:.0f} s, so the "
              'node ran the source model throughout; only the source model is evaluated.')
    print('\ndefeat-ros evaluate, unseen street (seed 1000), with and without median scaling:\n')
    print(results_table(evaluations))
    return 0


if __name__ == '__main__':
    sys.exit(main())
