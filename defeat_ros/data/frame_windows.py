"""
Which frames of a sequence can be training targets: their neighbours exist and are close in time.

A target frame ``t`` with source offsets ``(o_1, ..., o_S)`` needs every frame ``t + o_s``
inside the sequence and present (a file that exists, a message that decoded). With timestamps,
the frames from ``t + min(o)`` to ``t + max(o)`` must also lie in one stretch without a gap:
consecutive frames more than ``max_gap_s`` apart break the sequence there (dropped frames, a
paused recording, a bag stitched from two drives).
"""

import numpy as np


def check_offsets(offsets):
    """
    Return source offsets as a tuple of ints, rejecting zero, repeated or fractional offsets.

    :param offsets: frame offsets of the sources relative to the target, e.g. ``(-1, 1)``;
        empty for targets without sources (evaluation of depth).
    :return: the offsets as a tuple of ints, in the given order.
    """
    offsets = list(offsets)
    if any(isinstance(offset, bool) or int(offset) != offset for offset in offsets):
        raise ValueError(f'offsets must be distinct non-zero integers, got {offsets}')
    values = tuple(int(offset) for offset in offsets)
    if 0 in values or len(set(values)) != len(values):
        raise ValueError(f'offsets must be distinct non-zero integers, got {offsets}')
    return values


def check_increasing(stamps, where, unit_s=1.0):
    """
    Raise ValueError naming ``where`` when timestamps do not increase strictly.

    :param stamps: F timestamps in recording order (float seconds, or integers: exact).
    :param where: what the stamps belong to (a bag and topic, a folder), for the message.
    :param unit_s: seconds per unit of ``stamps`` (1e-9 for nanoseconds), for the message.
    """
    stamps = np.asarray(stamps)
    bad = np.flatnonzero(~(np.diff(stamps) > 0))
    if bad.size:
        first = int(bad[0])
        before, after = (float(stamps[first + k]) * unit_s for k in (0, 1))
        raise ValueError(
            f'{where}: timestamps go backwards or repeat at frame {first + 1} '
            f'({before:.9f} s, then {after:.9f} s; {bad.size} such place(s)); frames must '
            'be in capture order with increasing stamps')


def valid_targets(count, offsets, present=None, stamps=None, max_gap_s=0.0):
    """
    Return the frames that can be targets: neighbours inside, present and without a gap.

    :param count: F, the number of frame slots in the sequence.
    :param offsets: source offsets (non-zero ints).
    :param present: F bool, whether each frame exists (None: all do).
    :param stamps: F float64 seconds, increasing (None: no gap check).
    :param max_gap_s: largest allowed time between consecutive frames; 0 or less: no check.
    :return: sorted int64 array of target frame indices.
    """
    offsets = check_offsets(offsets)
    present = np.ones(count, dtype=bool) if present is None else np.asarray(present, bool)
    if present.shape != (count,):
        raise ValueError(f'present must have {count} entries, got {present.shape}')
    targets = np.arange(count)
    ok = present.copy()
    for offset in offsets:
        neighbour = targets + offset
        inside = (neighbour >= 0) & (neighbour < count)
        ok &= inside
        ok[inside] &= present[neighbour[inside]]
    if stamps is not None and max_gap_s > 0 and count > 1:
        stamps = np.asarray(stamps, dtype=np.float64)
        stretch = np.concatenate([[0], np.cumsum(np.diff(stamps) > max_gap_s)])
        first = np.clip(targets + min(min(offsets, default=0), 0), 0, count - 1)
        last = np.clip(targets + max(max(offsets, default=0), 0), 0, count - 1)
        ok &= stretch[first] == stretch[last]
    return np.flatnonzero(ok).astype(np.int64)
