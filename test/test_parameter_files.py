"""config/depth.yaml and the README's parameter table are what NodeConfig generates."""

from defeat_ros.apps import parameter_files
from defeat_ros.ros.node_config import NodeConfig
from defeat_ros.typed_config import options
import yaml


def test_generated_files_are_up_to_date(capsys):
    assert parameter_files.main(['--check']) == 0, capsys.readouterr().out


def test_yaml_holds_every_default_under_the_node_key():
    loaded = yaml.safe_load(parameter_files.node_yaml())
    values = loaded['/**/defeat']['ros__parameters']
    assert values == {item.name: item.default for item in options(NodeConfig)}


def test_a_changed_default_makes_the_check_fail(monkeypatch, tmp_path, capsys):
    (tmp_path / 'config').mkdir()
    (tmp_path / 'config' / 'depth.yaml').write_text(parameter_files.node_yaml())
    readme = (parameter_files.REPOSITORY / 'README.md').read_text()
    (tmp_path / 'README.md').write_text(parameter_files.readme_with_table(readme))
    monkeypatch.setattr(parameter_files, 'REPOSITORY', tmp_path)
    assert parameter_files.main(['--check']) == 0
    (tmp_path / 'config' / 'depth.yaml').write_text(
        parameter_files.node_yaml().replace('point_stride: 4', 'point_stride: 5'))
    assert parameter_files.main(['--check']) == 1
    assert 'depth.yaml is out of date' in capsys.readouterr().out
    assert parameter_files.main([]) == 0
    assert parameter_files.main(['--check']) == 0
