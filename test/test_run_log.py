"""Training logs: TensorBoard event files hold exactly the scalars and images logged."""

import json

from defeat_ros.trainer.run_log import RunLog
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

LOGGED = [(1, {'total': 0.75, 'photometric': 0.5, 'learning_rate': 1e-4}),
          (2, {'total': 0.625, 'photometric': 0.375, 'learning_rate': 1e-4}),
          (4, {'total': 0.5, 'skipped_steps': 1.0})]
"""(step, scalars) in the order a run logs them; the values are exact in float32."""


def read_events(folder):
    """Load every event file under ``folder``."""
    events = EventAccumulator(str(folder), size_guidance={'scalars': 0, 'images': 0})
    events.Reload()
    return events


def test_scalars_and_images_read_back_from_the_event_file(tmp_path):
    log = RunLog(tmp_path)
    for step, values in LOGGED:
        log.scalar(step, values)
    picture = np.zeros((8, 12, 3), dtype=np.uint8)
    picture[:, :6, 0] = 255
    log.image(2, 'depth', picture)
    log.close()
    events = read_events(tmp_path / 'logs')
    names = {name for _, values in LOGGED for name in values}
    assert set(events.Tags()['scalars']) == names
    for name in names:
        expected = [(step, values[name]) for step, values in LOGGED if name in values]
        read = [(event.step, event.value) for event in events.Scalars(name)]
        assert read == [(step, pytest.approx(value, rel=1e-7)) for step, value in expected]
    assert events.Tags()['images'] == ['depth']
    image = events.Images('depth')[0]
    assert (image.step, image.width, image.height) == (2, 12, 8)
    records = [json.loads(line) for line in
               (tmp_path / 'logs' / 'scalars.jsonl').read_text().splitlines()]
    assert records == [{'step': step, **values} for step, values in LOGGED]


def test_a_disabled_log_writes_nothing(tmp_path):
    log = RunLog(tmp_path, enabled=False)
    log.scalar(1, {'total': 1.0})
    log.image(1, 'depth', np.zeros((4, 4, 3), dtype=np.uint8))
    log.close()
    assert not (tmp_path / 'logs').exists()
