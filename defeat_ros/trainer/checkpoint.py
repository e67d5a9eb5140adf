"""
Checkpoints: a self-describing model directory plus the optimiser state to resume from.

``<out>/checkpoint/`` is an ordinary model directory (config.json + model.safetensors) that
every tool can load; ``training_state.pt`` beside the weights holds tensors and numbers only
(optimiser, schedule, loss scaler, step, epoch, random states) and is read with
``weights_only=True``. A run that averages its weights (:mod:`~defeat_ros.trainer.weight_average`)
publishes the average as the model directory and keeps the trained weights in the state.
"""

from pathlib import Path

from defeat_ros.nets import load_model, save_model
import torch

STATE_FILE = 'training_state.pt'


def save_checkpoint(directory, model, optimiser, scheduler, scaler, step, epoch, average=None):
    """
    Write the model directory and the resumable training state atomically.

    :param average: the run's WeightAverage, if any: its result is the model directory.
    """
    directory = Path(directory)
    partial = directory.with_name(directory.name + '.partial')
    state = {'optimiser': optimiser.state_dict(), 'scheduler': scheduler.state_dict(),
             'scaler': scaler.state_dict(), 'step': step, 'epoch': epoch,
             'torch_rng': torch.get_rng_state()}
    if average is not None and average.steps:
        save_model(average.result, partial)
        state.update(trained_weights=model.state_dict(), averaged_steps=average.steps)
    else:
        save_model(model, partial)
    torch.save(state, partial / STATE_FILE)
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


def load_checkpoint(directory, model, optimiser, scheduler, scaler, average=None):
    """
    Restore weights and training state in place; returns (step, epoch).

    :param average: the run's WeightAverage, if any: it continues the saved average.
    """
    directory = Path(directory)
    restored = load_model(directory)
    if restored.config.to_dict() | {'provenance': {}} != \
            model.config.to_dict() | {'provenance': {}}:
        raise ValueError(f'{directory} holds a model with another configuration than this run; '
                         f'use another output folder or resume: false')
    state = torch.load(directory / STATE_FILE, map_location='cpu', weights_only=True)
    model.load_state_dict(state.get('trained_weights', restored.state_dict()))
    if average is not None:
        average.restore(restored.state_dict(), state.get('averaged_steps', 0))
    optimiser.load_state_dict(state['optimiser'])
    scheduler.load_state_dict(state['scheduler'])
    scaler.load_state_dict(state['scaler'])
    torch.set_rng_state(state['torch_rng'])
    return state['step'], state['epoch']
