"""
The live speed at camera frame times: interpolation, and frames that wait for the measurement.

Frames usually arrive before the speed measurement after their stamp; AwaitSpeed holds them
until it comes (or the stream has moved on half a second), in order.
"""

import math

from defeat_ros.camera.speed_history import AwaitSpeed, SpeedHistory
import pytest

MS = 1_000_000


def test_speed_is_interpolated_between_measurements_and_unknown_beyond():
    history = SpeedHistory(max_gap_s=0.5)
    assert math.isnan(history.at(0)) and history.newest_ns() is None
    history.add(100 * MS, 4.0)
    history.add(200 * MS, 6.0)
    history.add(150 * MS, math.nan)  # ignored
    assert history.at(150 * MS) == pytest.approx(5.0)
    assert math.isnan(history.at(250 * MS))
    assert history.newest_ns() == 200 * MS


def test_a_frame_waits_for_the_measurement_after_it():
    history = SpeedHistory()
    waiting = AwaitSpeed(history, max_wait_s=0.5)
    history.add(0, 4.0)
    assert waiting.add(100 * MS, 'first') == []  # no measurement after 100 ms yet
    assert waiting.add(200 * MS, 'second') == []
    history.add(150 * MS, 7.0)
    released = waiting.add(300 * MS, 'third')
    assert [(item, stamp) for item, stamp, _ in released] == [('first', 100 * MS)]
    assert released[0][2] == pytest.approx(6.0)
    assert len(waiting) == 2


def test_without_measurements_frames_wait_at_most_max_wait_then_have_no_speed():
    waiting = AwaitSpeed(SpeedHistory(), max_wait_s=0.5)
    assert waiting.add(0, 'a') == [] and waiting.add(400 * MS, 'b') == []
    released = waiting.add(500 * MS, 'c')
    assert [item for item, _, _ in released] == ['a']
    assert math.isnan(released[0][2])
    flushed = waiting.flush()
    assert [item for item, _, _ in flushed] == ['b', 'c'] and len(waiting) == 0
