"""
Self-describing model directories: config.json + model.safetensors (never pickles).

Reading the configuration needs no torch; saving and loading weights import it when called.
"""

import json
from pathlib import Path

from defeat_ros.nets.config import ModelConfig

CONFIG_FILE = 'config.json'
WEIGHTS_FILE = 'model.safetensors'
FORMAT = 'defeat_ros.model/1'


def save_model(model, directory):
    """Write ``model`` (a DeFeatNet) to ``directory``; returns the directory as a Path."""
    from safetensors.torch import save
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    # Written by Python rather than save_file, so that the file's permissions follow the umask.
    (directory / WEIGHTS_FILE).write_bytes(save(state, metadata={'format': FORMAT}))
    config = {'format': FORMAT, 'model': model.config.to_dict()}
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + '\n')
    return directory


def read_config(directory):
    """Read and validate the ModelConfig of a model directory."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f'{directory} is not a defeat_ros model directory: no {CONFIG_FILE}')
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f'{path} is not valid JSON: {error}') from error
    if data.get('format') != FORMAT:
        raise ValueError(f'{path} has format {data.get("format")!r}, expected {FORMAT!r}')
    return ModelConfig.from_dict(data['model'])


def load_model(directory):
    """Rebuild the DeFeatNet of a model directory and load its weights (strict)."""
    from defeat_ros.nets.defeat_net import DeFeatNet
    from safetensors.torch import load_file
    import torch
    config = read_config(directory)
    # Weights come from the directory itself; a pretrained encoder path must not be reloaded.
    config.pretrained_encoder = ''
    model = DeFeatNet(config)
    weights = Path(directory) / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f'{directory}: missing {WEIGHTS_FILE}')
    try:
        state = load_file(str(weights))
    except Exception as error:  # safetensors raises its own types for corrupt headers
        raise ValueError(f'{weights} is corrupt or not a safetensors file: {error}') from error
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(
        k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or wrong_shape:
        raise ValueError(
            f'{weights} does not match the architecture in {CONFIG_FILE} '
            f'({len(missing)} missing, {len(unexpected)} unexpected, '
            f'{len(wrong_shape)} wrong-shaped '
            f'tensors; first: {(missing + unexpected + wrong_shape)[:3]})')
    broken = sorted(k for k, v in state.items() if v.is_floating_point() and
                    not torch.isfinite(v).all())
    if broken:
        raise ValueError(f'{weights} holds NaN or infinite values in {len(broken)} tensors '
                         f'(first: {broken[:3]}); the model is unusable')
    model.load_state_dict(state)
    return model
