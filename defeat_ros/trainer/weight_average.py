"""
An exponential moving average of a model's weights over the end of a training run.

Late in a run each optimisation step still moves the weights by the noise of its batch; the
average of the last few hundred steps' weights is a model of its own (Polyak averaging), often
more accurate than the last step's. ``optim.ema_decay`` turns it on and ``optim.ema_start``
says from which step it runs (for example from the learning rate's last drop); validation, the
checkpoint's model directory and so the run's result are then the average, while the optimiser
keeps training the model's own weights (saved in the checkpoint's training state to resume).
"""

from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class WeightAverage:
    """
    ``average <- decay * average + (1 - decay) * weights`` after every step from ``start``.

    Parameters and buffers (BatchNorm's running statistics) alike; the first step averaged
    copies the weights.
    """

    def __init__(self, model, decay, start):
        """
        Average ``model`` (a DeFeatNet, not a DDP wrapper) after the steps numbered >= start.

        :param decay: weight of the old average at each step, in (0, 1): about 1 / (1 - decay)
            steps count.
        :param start: the first step (counted from 1) whose weights enter the average.
        """
        if not 0.0 < decay < 1.0:
            raise ValueError(f'ema_decay must be in (0, 1) to average, got {decay}')
        self.model, self.start = model, start
        self.averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay),
                                      use_buffers=True)

    @property
    def steps(self):
        """Return how many steps the average holds so far."""
        return int(self.averaged.n_averaged)

    @property
    def result(self):
        """Return the model to measure and publish: the average once begun, else the model."""
        return self.averaged.module if self.steps else self.model

    def update(self, step):
        """Fold the model's weights after optimisation step ``step`` into the average."""
        if step >= self.start:
            self.averaged.update_parameters(self.model)

    def restore(self, averaged_weights, steps):
        """Resume an average of ``steps`` steps whose weights are ``averaged_weights``."""
        if steps:
            self.averaged.module.load_state_dict(averaged_weights)
        self.averaged.n_averaged.fill_(steps)
