"""benchmarks/online_finetune.py: its table and summary, from made-up evaluation results."""

from pathlib import Path
import runpy

import pytest

pytestmark = pytest.mark.ros_graph  # the benchmark imports rclpy and the node: see pytest.ini

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def benchmark():
    return runpy.run_path(str(ROOT / 'benchmarks' / 'online_finetune.py'))


def results(abs_rel, a1, ratio_median, ate, length_scale, scale):
    """Return results.json contents with the same numbers by day and a tenth more by night."""
    def condition(factor):
        return {'depth': {'abs_rel': abs_rel * factor, 'a1': a1, 'ratio_median': ratio_median,
                          'rmse': 9.9},
                'pose': {'snippet': {'ate_mean': ate, 'snippets': 36},
                         'trajectory': {'length_scale': length_scale, 'scale': scale}}}
    return {'conditions': {'day': condition(1.0), 'night': condition(1.1)}}


def rows(table):
    return [line.strip('| ').split(' | ') for line in table.splitlines()]


def test_one_row_per_model_and_lighting_with_the_depth_scale_inverted(benchmark):
    source = (results(0.14, 0.81, 0.8, 0.0228, 1.44, 1.45), results(0.25, 0.6, 0.8, 0.03, 1, 1))
    tuned = (results(0.12, 0.85, 1.0, 0.0201, 1.02, 1.03), results(0.13, 0.8, 1, 0.02, 1, 1))
    table = rows(benchmark['results_table']([('source', *source),
                                             ('online step_000040', *tuned)]))
    assert table[0][:2] == ['model', 'lighting'] and len(table[0]) == 9
    assert table[1] == ['---'] * 2 + ['---:'] * 7
    assert table[2:] == [
        ['source', 'day', '0.140', '0.250', '0.810', '1.250', '0.0228', '1.440', '1.450'],
        ['source', 'night', '0.154', '0.275', '0.810', '1.250', '0.0228', '1.440', '1.450'],
        ['online step_000040', 'day', '0.120', '0.130', '0.850', '1.000', '0.0201', '1.020',
         '1.030'],
        ['online step_000040', 'night', '0.132', '0.143', '0.850', '1.000', '0.0201', '1.020',
         '1.030']]


def test_summary_names_models_accepted_after_the_last_status(benchmark):
    run = {'seconds': 100.0, 'settings': {'online_step_rate': 1.0},
           'online': {'training steps': '50', 'swaps': '1', 'rollbacks': '2',
                      'accepted validation loss': '0.0183', 'training triplets': '60',
                      'held-out triplets': '15', 'triplets with speed': '60'},
           'perception': {'backend': 'onnxruntime', 'frames received': '1000',
                          'frames processed': '900'},
           'event': 'swapped in step_000020 (validation loss 0.0183)',
           'accepted': ['step_000020', 'step_000040'], 'unreported': ['step_000040']}
    lines = benchmark['run_summary'](run)
    assert lines[0].startswith('node: backend onnxruntime, 1000 frames received, 900 processed '
                               'in 100 s; online_step_rate 1.0')
    assert '50 training steps (0.50/s), swaps 1, rollbacks 2, accepted validation loss 0.0183' \
        in lines[1] and lines[1].endswith('triplets 60 / 15 / 60')
    assert lines[3] == ('accepted: step_000020, step_000040; step_000040 in no diagnostics '
                        'status: accepted between two statuses or while the node shut down')
    assert benchmark['run_summary']({**run, 'accepted': [], 'unreported': []})[3] == \
        'accepted: none'
