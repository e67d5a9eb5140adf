"""
Health of the node's pipeline: counters kept by its threads, reported on /diagnostics.

:class:`PipelineStats` is updated by the subscription callback (frames in, drops) and the
inference thread (frames out, latency, errors); once per period the node turns a
:class:`PeriodReport` into a diagnostic_msgs/DiagnosticStatus with :func:`diagnostic_status`.
Memory is bounded: latencies are kept for one period only, at most :data:`MAX_SAMPLES`.
"""

from dataclasses import dataclass, field
import threading
import time

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
import numpy as np

COUNTS = ('received', 'processed', 'dropped', 'errors')
"""What :class:`PipelineStats` counts, per period and in total."""

MAX_SAMPLES = 1000
"""Latency samples kept per period (a period longer than this at the frame rate is sampled)."""


@dataclass
class PeriodReport:
    """What happened since the previous report, and totals since start."""

    seconds: float
    received: int
    processed: int
    dropped: int
    errors: int
    latencies: list = field(default_factory=list)
    """Seconds from receiving a frame to having published its outputs."""
    inference: list = field(default_factory=list)
    """Seconds of the Perception call per processed frame."""
    waits: list = field(default_factory=list)
    """Seconds a processed frame waited for the inference thread (busy with an older one)."""
    last_error: str = ''
    """The latest error of the period ('' when none)."""
    total_received: int = 0
    total_processed: int = 0
    total_dropped: int = 0
    total_errors: int = 0


class PipelineStats:
    """Thread-safe counters of the frames flowing through the node."""

    def __init__(self):
        """Start a period now, with zero counts."""
        self._lock = threading.Lock()
        self._totals = dict.fromkeys(COUNTS, 0)
        self._start_period(time.monotonic())

    def _start_period(self, now):
        """Zero the period's counters and samples (the lock is held or not needed yet)."""
        self._period = dict.fromkeys(COUNTS, 0)
        self._latencies, self._inference, self._waits = [], [], []
        self._last_error = ''
        self._period_start = now

    def _count(self, key):
        self._period[key] += 1
        self._totals[key] += 1

    def received(self, dropped):
        """Count an incoming frame; ``dropped``: it replaced a frame that was never processed."""
        with self._lock:
            self._count('received')
            if dropped:
                self._count('dropped')

    def processed(self, latency, inference, wait):
        """Count a processed frame with its latency, inference time and wait (seconds)."""
        with self._lock:
            self._count('processed')
            if len(self._latencies) < MAX_SAMPLES:
                self._latencies.append(latency)
                self._inference.append(inference)
                self._waits.append(wait)

    def failed(self, message):
        """Count a frame that could not be processed and remember why."""
        with self._lock:
            self._count('errors')
            self._last_error = message

    def report(self):
        """Return the current period's PeriodReport and start a new period."""
        now = time.monotonic()
        with self._lock:
            report = PeriodReport(
                seconds=now - self._period_start, latencies=self._latencies,
                inference=self._inference, waits=self._waits, last_error=self._last_error,
                **self._period,
                **{f'total_{key}': value for key, value in self._totals.items()})
            self._start_period(now)
        return report


def milliseconds(values, percentile):
    """Format a percentile of ``values`` (seconds) in milliseconds; '-' when there are none."""
    return f'{1000.0 * float(np.percentile(values, percentile)):.1f}' if values else '-'


def diagnostic_status(report, name, hardware_id, extra, waiting_for, lost_upstream=0,
                      docs=''):
    """
    Build the DiagnosticStatus of one period.

    Level: ERROR when frames failed in the period (message: the latest error); WARN when camera
    frames were lost before reaching the node, when frames were dropped (inference slower than
    the input) or when none arrived; OK otherwise.

    :param report: PeriodReport.
    :param name: status name (the node's name).
    :param hardware_id: what runs the model (the device).
    :param extra: further (key, value) pairs, e.g. backend and model.
    :param waiting_for: the input topic, named when no frames arrived.
    :param lost_upstream: camera frames of the period that never reached the node (gaps in the
        input stamps).
    :param docs: where the message about upstream losses points the reader.
    """
    if report.errors:
        level, message = DiagnosticStatus.ERROR, report.last_error
    elif lost_upstream:
        level, message = DiagnosticStatus.WARN, (
            f'{lost_upstream} camera frames lost before reaching the node (gaps in the image '
            f'stamps): large images over DDS need a reliable camera or a transport for them; '
            f'see {docs}')
    elif report.dropped:
        level, message = DiagnosticStatus.WARN, (
            f'dropped {report.dropped} of {report.received} frames: inference is slower than '
            f'the input')
    elif not report.received:
        level, message = DiagnosticStatus.WARN, f'no images received on {waiting_for}'
    else:
        level, message = DiagnosticStatus.OK, 'processing'
    seconds = max(report.seconds, 1e-9)
    values = [
        ('input rate (Hz)', f'{report.received / seconds:.2f}'),
        ('output rate (Hz)', f'{report.processed / seconds:.2f}'),
        ('latency p50 (ms)', milliseconds(report.latencies, 50)),
        ('latency max (ms)', milliseconds(report.latencies, 100)),
        ('inference p50 (ms)', milliseconds(report.inference, 50)),
        ('queue wait p50 (ms)', milliseconds(report.waits, 50)),
        ('dropped frames', str(report.total_dropped)),
        ('dropped frames (period)', str(report.dropped)),
        ('frames received', str(report.total_received)),
        ('frames processed', str(report.total_processed)),
        ('errors', str(report.total_errors)),
        *extra,
    ]
    return DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                            values=[KeyValue(key=k, value=str(v)) for k, v in values])


def online_status(stats, name, hardware_id):
    """
    Build the DiagnosticStatus of online fine-tuning from its OnlineStats.

    Level WARN once a rollback has happened (message: the latest event), else OK.
    """
    level = DiagnosticStatus.WARN if stats.rollbacks else DiagnosticStatus.OK
    values = [('training steps', stats.steps), ('training loss', f'{stats.training_loss:.4f}'),
              ('validation loss', f'{stats.validation_loss:.4f}'),
              ('accepted validation loss', f'{stats.accepted_validation_loss:.4f}'),
              ('swaps', stats.swaps), ('rollbacks', stats.rollbacks),
              ('training triplets', stats.triplets), ('held-out triplets', stats.held_out),
              ('triplets with speed', stats.with_speed)]
    return DiagnosticStatus(level=level, name=name, message=stats.last_event,
                            hardware_id=hardware_id,
                            values=[KeyValue(key=k, value=str(v)) for k, v in values])
