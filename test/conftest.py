"""Shared fixtures: an exactly known two-view scene, the paths the linters check, a tiny model."""

from dataclasses import dataclass
from pathlib import Path

from defeat_ros.data.textured_corridor import Corridor
from defeat_ros.geometry import invert_pose, normalise_intrinsics, pose_to_matrix, scale_intrinsics
from defeat_ros.nets import ModelConfig, save_model
import pytest
import torch
from untrained import untrained_model


@dataclass
class TwoViews:
    """Target and source frames with their exact geometry (batch of 1)."""

    target: torch.Tensor
    source: torch.Tensor
    target_depth: torch.Tensor
    source_depth: torch.Tensor
    t_source_target: torch.Tensor
    k_norm: torch.Tensor
    k_pix: torch.Tensor


def render_two_views(height=96, width=320, translation=(0.1, 0.0, 0.8), rotation=(0.0, 0.03, 0.0)):
    """Render the corridor from the origin (target) and from a moved camera (source)."""
    k_norm = normalise_intrinsics(0.58 * width, 1.92 * height, 0.5 * width - 0.5,
                                  0.5 * height - 0.5, width, height)
    k_pix = scale_intrinsics(k_norm, height, width)
    t_world_target = torch.eye(4)
    t_world_source = pose_to_matrix(torch.tensor([rotation]), torch.tensor([translation]))[0]
    corridor = Corridor()
    target, target_depth = corridor.render(t_world_target, k_pix, height, width)
    source, source_depth = corridor.render(t_world_source, k_pix, height, width)
    t_source_target = invert_pose(t_world_source[None]) @ t_world_target[None]
    return TwoViews(target[None], source[None], target_depth[None], source_depth[None],
                    t_source_target, k_norm[None], k_pix[None])


@pytest.fixture(scope='session')
def two_views():
    """Render the corridor before and after 0.8 m forward, 0.1 m right and a 1.7 degree yaw."""
    return render_two_views()


REPO = Path(__file__).resolve().parents[1]
NOT_SOURCES = {'build', 'install', 'log', 'demo_output'}


@pytest.fixture
def lint_paths(monkeypatch):
    """Change to the repository root; return its Python files and source folders to lint."""
    monkeypatch.chdir(REPO)
    return sorted(
        entry.name for entry in REPO.iterdir()
        if (entry.is_dir() and entry.name[0] not in '._' and entry.name not in NOT_SOURCES)
        or (entry.is_file() and entry.suffix == '.py'))


@pytest.fixture(scope='module')
def one_thread():
    """Run a module's tests with one torch thread (small models; no oversubscription)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='session')
def tiny_model(tmp_path_factory):
    """Save an untrained DeFeatNet with 8 feature channels at 64 x 96 as a model directory."""
    torch.manual_seed(0)
    model = untrained_model(ModelConfig(feature_dims=8, height=64, width=96, encoder_width=16))
    return save_model(model, tmp_path_factory.mktemp('model') / 'tiny')
