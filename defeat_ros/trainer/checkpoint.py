"""
Checkpoints: a self-describing model directory plus the optimiser state to resume from.

``<out>/checkpoint/`` is an ordinary model directory (config.json + model.safetensors) that
every tool can load; ``training_state.pt`` beside the weights holds tensors and numbers only
(optimiser, schedule, loss scaler, step, epoch, random states) and is read with
``weights_only=True``.
"""

from pathlib import Path

from defeat_ros.nets import load_model, save_model
import torch

STATE_FILE = 'training_state.pt'


def save_checkpoint(directory, model, optimiser, scheduler, scaler, step, epoch):
    """Write the model directory and the resumable training state atomically."""
    directory = Path(directory)
    partial = directory.with_name(directory.name + '.partial')
    save_model(model, partial)
    torch.save({'optimiser': optimiser.state_dict(), 'scheduler': scheduler.state_dict(),
                'scaler': scaler.state_dict(), 'step': step, 'epoch': epoch,
                'torch_rng': torch.get_rng_state()}, partial / STATE_FILE)
    if directory.exists():
        old = directory.with_name(directory.name + '.old')
        directory.rename(old)
        partial.rename(directory)
        for child in old.iterdir():
            child.unlink()
        old.rmdir()
    else:
        partial.rename(directory)
    return directory


def load_checkpoint(directory, model, optimiser, scheduler, scaler):
    """Restore weights and training state in place; returns (step, epoch)."""
    directory = Path(directory)
    restored = load_model(directory)
    if restored.config.to_dict() | {'provenance': {}} != \
            model.config.to_dict() | {'provenance': {}}:
        raise ValueError(f'{directory} holds a model with another configuration than this run; '
                         f'use another output folder or resume: false')
    model.load_state_dict(restored.state_dict())
    state = torch.load(directory / STATE_FILE, map_location='cpu', weights_only=True)
    optimiser.load_state_dict(state['optimiser'])
    scheduler.load_state_dict(state['scheduler'])
    scaler.load_state_dict(state['scaler'])
    torch.set_rng_state(state['torch_rng'])
    return state['step'], state['epoch']
