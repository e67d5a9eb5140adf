"""Models and bags are written with the permissions the umask gives, readable by other users."""

import os
import stat

from defeat_ros.bags.writer import create_bag
from defeat_ros.messages.typestore import TYPESTORE
from defeat_ros.nets import DeFeatNet, load_model, ModelConfig, save_model
from defeat_ros.trainer.finetune import write_model
import pytest

CONFIG = ModelConfig(encoder_width=16, feature_dims=8, height=64, width=96)


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_saved_model_is_readable_by_everyone(tmp_path, umask_022):
    directory = save_model(DeFeatNet(CONFIG), tmp_path / 'model')
    assert mode(directory) == 0o755
    assert {mode(path) for path in directory.iterdir()} == {0o644}
    load_model(directory)


def test_a_finetuned_model_directory_is_readable_by_everyone(tmp_path, umask_022):
    directory = write_model(DeFeatNet(CONFIG), tmp_path / 'finetuned')
    assert mode(directory) == 0o755
    assert {mode(path) for path in directory.rglob('*') if path.is_file()} == {0o644}
    assert [path.name for path in tmp_path.iterdir()] == ['finetuned']


def test_a_written_bag_is_readable_by_everyone(tmp_path, umask_022):
    with create_bag(tmp_path / 'bag') as writer:
        connection = writer.add_connection('/chatter', 'std_msgs/msg/String', typestore=TYPESTORE)
        writer.write(connection, 1, TYPESTORE.serialize_cdr(
            TYPESTORE.types['std_msgs/msg/String'](data='hello'), 'std_msgs/msg/String'))
    assert mode(tmp_path / 'bag') == 0o755
    assert {mode(path) for path in (tmp_path / 'bag').iterdir()} == {0o644}
