"""docs/train_config.md is what the TrainConfig dataclasses generate, and every field has a doc."""

from dataclasses import dataclass, field

from defeat_ros.apps import parameter_files, train_config_reference
from defeat_ros.data.augment import AugmentConfig
from defeat_ros.data.datasets import DATASETS
from defeat_ros.losses import LossConfig
from defeat_ros.nets import ModelConfig
from defeat_ros.trainer.config import DataConfig, OptimConfig, TrainConfig
from defeat_ros.typed_config import option, TypedConfig
import pytest

CLASSES = [TrainConfig, ModelConfig, LossConfig, DataConfig, AugmentConfig, OptimConfig] + [
    dataset.Config for dataset in DATASETS.values()]


def test_the_reference_is_up_to_date(capsys):
    assert train_config_reference.main(['--check']) == 0, capsys.readouterr().out


@pytest.mark.parametrize('config_class', CLASSES, ids=lambda c: c.__name__)
def test_every_field_has_a_doc(config_class):
    undocumented = [item.name for item in parameter_files.documented_fields(config_class)
                    if not item.doc]
    assert undocumented == []


def test_every_field_is_in_the_reference_by_its_dotted_name():
    text = train_config_reference.reference()
    sections = {'model', 'loss', 'data', 'optim'}  # tables of their own
    tables = [('', TrainConfig), ('model.', ModelConfig), ('loss.', LossConfig),
              ('data.', DataConfig), ('data.augment.', AugmentConfig), ('optim.', OptimConfig)]
    tables += [('data.source.', dataset.Config) for dataset in DATASETS.values()]
    for prefix, config_class in tables:
        for item in parameter_files.documented_fields(config_class):
            if not (prefix == '' and item.name in sections):
                row = f'| `{prefix}{item.name}` | `{parameter_files.scalar(item.default)}` | '
                assert row in text
    assert '| `validation_samples` | `32` | Held-out samples per validation' in text


@dataclass
class Example(TypedConfig):
    """A config documented both ways."""

    plain: int = 3
    """
    A doc on two
    lines."""
    listed: list = field(default_factory=lambda: [1, 2])
    """One line."""
    made: str = option('a', 'Made with option', choices=('a', 'b'))
    bare: float = 0.5


def test_documented_fields_read_attribute_docstrings_and_option_metadata():
    found = {item.name: item for item in parameter_files.documented_fields(Example)}
    assert found['plain'].doc == 'A doc on two lines.'
    assert (found['listed'].default, found['listed'].doc) == ([1, 2], 'One line.')
    assert (found['made'].doc, found['made'].choices) == ('Made with option', ('a', 'b'))
    assert found['bare'].doc == ''
    assert train_config_reference.table('x.', Example).splitlines()[2:] == [
        '| `x.plain` | `3` | A doc on two lines. |',
        '| `x.listed` | `[1, 2]` | One line. |',
        '| `x.made` | `a` | Made with option (one of `a`, `b`) |',
        '| `x.bare` | `0.5` |  |']


def test_cells_escape_outside_code_spans_only():
    assert parameter_files.cell('a<b *c* `x<y*` ``p|q`` r|s') == \
        'a&lt;b \\*c\\* `x<y*` ``p\\|q`` r\\|s'


def test_a_changed_doc_makes_the_check_fail(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(train_config_reference, 'REPOSITORY', tmp_path)
    assert train_config_reference.main(['--check']) == 1  # missing
    assert 'train_config.md is out of date' in capsys.readouterr().out
    (tmp_path / 'docs').mkdir()
    assert train_config_reference.main([]) == 0
    assert train_config_reference.main(['--check']) == 0
    path = tmp_path / 'docs' / 'train_config.md'
    path.write_text(path.read_text().replace('Held-out samples', 'Samples'))
    assert train_config_reference.main(['--check']) == 1
