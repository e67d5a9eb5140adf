"""
Online self-supervised fine-tuning beside a running Perception: train a copy, swap it in safely.

:class:`OnlineFinetuner` is fed every processed camera frame (at the network resolution). It
keeps a bounded replay buffer of recent frame tuples of a moving camera (a standing camera
teaches nothing: see :mod:`~defeat_ros.data.frame_selection`): a target and its sources at the
offsets the model was trained with (triplets t-1, t, t+1 by default); every fifth tuple is held
out for validation and never trained on. A background thread trains a copy of the weights with
the Trainer's :class:`~defeat_ros.trainer.step.TrainingStep` and the DeFeat loss the model was
trained with (offsets and loss from the ``train_config`` its provenance records) at a bounded
step rate; every ``validate_every`` steps it measures the validation criterion on the held-out
tuples (the photometric error, which measures depth and motion, unlike the feature terms: see
:mod:`~defeat_ros.trainer.criterion`; the same random draws each time), of the training copy and
of the accepted weights (those running) on the same snapshot of the held-out set: the set rolls
with the stream, and the same weights score about 10 % apart on two sets, so a criterion is only
compared with one measured on the same tuples. Only when the copy's is lower than the accepted
weights' by ``min_improvement`` are its weights saved as a model directory under
``checkpoint_dir`` and handed to ``swap`` (the node builds a new backend from it and replaces the
running one between two frames). A skipped (non-finite) training step, or a validation criterion
above ``divergence`` times the accepted weights', rolls the training copy back to the accepted
weights with a fresh optimiser. Inference is never blocked: it only ever sees complete, accepted
models.

Replay. As offline (:mod:`~defeat_ros.trainer.replay`), ``replay`` of the training draws come
from the source model's own training data, rebuilt from its provenance by the training thread
before its first step, trained with the recorded objective (depth supervision included; the
camera's frames are never depth-supervised). Self-supervised steps alone make a model trained
with exact depth worse while the criterion improves (benchmarks/online_finetune.py); data that
cannot be rebuilt here is logged, and the camera's frames are then trained on alone.

Speed. Frames offered with their capture time and the vehicle's speed (the node's
``speed_topic``) give each tuple the distance travelled to its sources, and the loss's velocity
supervision makes the fine-tuned depth and odometry metric, as in training; the validation
criterion then includes the velocity error. A model of arbitrary scale (``metric_scale``
'none') is first rescaled to metres by the factor the speed measures on the first training
tuples (:func:`~defeat_ros.trainer.metric_start.start_metric`), as ``defeat-ros finetune``
does; its accepted models record ``metric_scale`` 'velocity'. Without speed, a ``camera_height``
does the same with the road plane fitted to the predicted depth at that height below the camera
(the node passes its own with ``scale_mode`` camera_height); the models then record
'camera_height'. The rescaled model, the same network in metres, is accepted and swapped in at
once (``step_000000``).
"""

from collections import deque
from dataclasses import dataclass
import math
from pathlib import Path
import shutil
import threading

from defeat_ros.data.frame_selection import STATIC_THRESHOLD, thumbnail
from defeat_ros.data.travel import travelled_distances
from defeat_ros.losses import DeFeatLoss
from defeat_ros.nets import load_model, save_model
from defeat_ros.trainer.criterion import validation_criterion
from defeat_ros.trainer.metric_start import start_metric
from defeat_ros.trainer.replay import replay_dataset
from defeat_ros.trainer.step import measure_loss, recorded_objective, TrainingStep
from defeat_ros.typed_config import TypedConfig
import numpy as np
import torch

HOLD_OUT_EVERY = 5
"""Every this-many-th frame tuple goes to the validation set."""
GRAD_CLIP = 1.0
"""Global gradient norm the fine-tuning clips to (a deployed model is changed cautiously)."""


@dataclass
class OnlineConfig(TypedConfig):
    """How the node adapts its networks while it runs."""

    checkpoint_dir: str = ''
    """Where accepted models are saved (``step_<n>`` model directories); required."""
    buffer_size: int = 60
    """Training frame tuples kept (the oldest go first); a quarter as many are held out."""
    step_rate: float = 1.0
    """Most training steps per second (the CPU or GPU is shared with inference)."""
    learning_rate: float = 2e-5
    """Adam learning rate of the fine-tuning."""
    batch_size: int = 2
    """Frame tuples per training step."""
    replay: float = 0.5
    """Share of the training draws from the source model's training data (0: none)."""
    validate_every: int = 20
    """Training steps between validations (and possible swaps)."""
    min_triplets: int = 6
    """Training tuples needed before the first step (and held-out ones before validating)."""
    min_improvement: float = 0.01
    """Swap only when the validation loss is this fraction below the accepted weights' one."""
    divergence: float = 1.5
    """Roll back when the validation loss exceeds this factor times the accepted weights' one."""
    keep_checkpoints: int = 3
    """Accepted model directories kept on disk (older ones are deleted)."""
    camera_height: float = 0.0
    """The camera's height above the road (m): without speed, the road plane at this height
    rescales a model of arbitrary scale to metres before the first step (0: it stays as it is)."""

    def __post_init__(self):
        """Check the ranges."""
        if not self.checkpoint_dir:
            raise ValueError('online fine-tuning needs a checkpoint_dir')
        checks = {'buffer_size': self.buffer_size >= 2, 'step_rate': self.step_rate > 0,
                  'learning_rate': 0 < self.learning_rate < 1,
                  'batch_size': self.batch_size >= 1, 'replay': 0 <= self.replay < 1,
                  'validate_every': self.validate_every >= 1,
                  'min_triplets': self.min_triplets >= 1,
                  'min_improvement': 0 <= self.min_improvement < 1,
                  'divergence': self.divergence > 1,
                  'keep_checkpoints': self.keep_checkpoints >= 1,
                  'camera_height': self.camera_height >= 0}
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f'online fine-tuning: invalid {", ".join(bad)}')


@dataclass
class OnlineStats:
    """What the fine-tuning has done so far (for diagnostics)."""

    steps: int = 0
    training_loss: float = math.nan
    validation_loss: float = math.nan
    """The training copy's criterion at the last validation."""
    accepted_validation_loss: float = math.nan
    """The accepted (running) weights' criterion on the same held-out tuples."""
    swaps: int = 0
    rollbacks: int = 0
    triplets: int = 0
    held_out: int = 0
    with_speed: int = 0
    """Training tuples whose distances the speed gave."""
    last_event: str = 'collecting frames'


class OnlineFinetuner:
    """
    Fine-tune a copy of ``model_dir`` on frames fed with :meth:`add_frame` (see the module doc).

    :param model_dir: the model the Perception runs; its weights start the copy.
    :param config: an :class:`OnlineConfig`.
    :param swap: called with an accepted model directory, from the training thread.
    :param log: called with one-line messages.
    :param device: torch device of the training copy.
    """

    def __init__(self, model_dir, config, swap, log=print, device='cpu'):
        """Load the copy and start the training thread."""
        self.config = config
        self.swap = swap
        self.log = log
        self.device = torch.device(device)
        self.model = load_model(model_dir).to(self.device).train()
        self.offsets, loss_config = recorded_objective(self.model.config,
                                                       depth_supervision=config.replay > 0)
        self.loss_fn = DeFeatLoss(loss_config).to(self.device)
        self.accepted = self.weights()
        self.training_step = TrainingStep(self.model, self.loss_fn, self.new_optimiser(),
                                          self.offsets, grad_clip=GRAD_CLIP)
        self.stats = OnlineStats()
        self._target = -min(min(self.offsets), 0)  # the target's place in the newest frames
        self._window = deque(maxlen=self._target + max(max(self.offsets), 0) + 1)
        self._train = deque(maxlen=config.buffer_size)
        self._held_out = deque(maxlen=max(1, config.buffer_size // (HOLD_OUT_EVERY - 1)))
        self._seen = 0
        self._metric_checked = False
        self._replayed = None  # the source's training data, once the training thread built it
        self._replay_checked = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._generator = np.random.default_rng(0)
        Path(config.checkpoint_dir).mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name='online_finetune', daemon=True)
        self._thread.start()

    def weights(self):
        """Return a copy of the training copy's state dict (kept apart from training)."""
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def new_optimiser(self):
        """Return a fresh Adam over the training copy."""
        return torch.optim.Adam(self.model.parameters(), lr=self.config.learning_rate)

    def add_frame(self, frame, k_norm, stamp=math.nan, speed=math.nan):
        """
        Offer the next frame of the stream.

        :param frame: 1 x 3 x h x w float in [0, 1] at the model's resolution (array or tensor).
        :param k_norm: 3 x 3 normalised intrinsics of the frame.
        :param stamp: capture time in seconds (NaN: unknown).
        :param speed: the vehicle's speed at that time in m/s (NaN: unknown).
        :raises ValueError: for non-finite intrinsics (nothing is added).
        """
        frame = torch.as_tensor(frame)
        k_norm = torch.as_tensor(k_norm, dtype=torch.float32)
        if not torch.isfinite(k_norm).all():
            raise ValueError(f'non-finite intrinsics {k_norm.tolist()}')
        pixels = (frame[0].clamp(0, 1) * 255).round().to(torch.uint8).cpu()
        self._window.append((pixels, float(stamp), float(speed)))
        if len(self._window) < self._window.maxlen:
            return
        frames = [self._window[self._target + offset][0] for offset in (0, *self.offsets)]
        thumbs = [thumbnail(f.permute(1, 2, 0).numpy()) for f in frames]
        if min(np.abs(thumbs[0] - t).mean() for t in thumbs[1:]) < STATIC_THRESHOLD:
            return
        _, stamps, speeds = (np.array(column) for column in zip(*self._window))
        distances = torch.from_numpy(travelled_distances(speeds, stamps, self._target,
                                                         self.offsets))
        sample = (torch.stack(frames), k_norm, distances, None)
        with self._lock:
            self._seen += 1
            held_out = self._seen % HOLD_OUT_EVERY == 0
            (self._held_out if held_out else self._train).append(sample)
            self.stats.triplets, self.stats.held_out = len(self._train), len(self._held_out)
            self.stats.with_speed = sum(bool(torch.isfinite(s[2]).all()) for s in self._train)

    def reset(self):
        """Start a new stream (time jump, new resolution): no frame tuple spans the break."""
        self._window.clear()

    def _batch(self, samples):
        """
        Stack (frames, k_norm, distances, depth) samples into a TrainingStep batch on the device.

        A sample's frames are 1 + S x 3 x h x w uint8 (target first), its depth 1 x h x w metres
        or None (unknown: the camera's frames).

        :return: {'target': B x 3 x h x w, 'sources': B x S x 3 x h x w float in [0, 1],
            'k_norm': B x 3 x 3, 'distances': B x S metres (NaN unknown), 'offsets': B x S},
            with 'depth' B x 1 x h x w (0 unknown) when a sample has depth.
        """
        frames = torch.stack([s[0] for s in samples]).to(self.device).float() / 255.0
        k_norm = torch.stack([s[1] for s in samples]).to(self.device)
        distances = torch.stack([s[2] for s in samples]).to(self.device)
        offsets = torch.tensor(self.offsets).expand(len(samples), -1)
        batch = {'target': frames[:, 0], 'sources': frames[:, 1:], 'k_norm': k_norm,
                 'distances': distances, 'offsets': offsets}
        if any(s[3] is not None for s in samples):
            unknown = torch.zeros(1, *frames.shape[-2:])
            batch['depth'] = torch.stack([unknown if s[3] is None else s[3]
                                          for s in samples]).to(self.device)
        return batch

    def _start_replay(self):
        """Rebuild the source model's training data to replay (module doc), once."""
        self._replay_checked = True
        if not self.config.replay:
            return
        config = self.model.config
        try:
            self._replayed = replay_dataset(config, config.height, config.width, self.offsets,
                                            seed=0)
        except ValueError as error:
            self.log(f"online fine-tuning without replay ({error}): the camera's frames alone")
            return
        self.log(f"online fine-tuning replays the source model's training data "
                 f'({len(self._replayed)} samples) in {self.config.replay:.0%} of the draws')

    def _replayed_sample(self, index):
        """Return replayed sample ``index`` as a (frames, k_norm, distances, depth) sample."""
        sample = self._replayed[index]
        frames = torch.cat([sample['target'][None], sample['sources']])
        return ((frames.clamp(0, 1) * 255).round().to(torch.uint8), sample['k_norm'],
                torch.as_tensor(sample['distances'], dtype=torch.float32),
                sample.get('depth'))

    def _draw(self):
        """Return a training batch's samples: ``replay`` of them replayed (when built)."""
        replaying = (self._generator.random(self.config.batch_size) < self.config.replay
                     if self._replayed is not None else np.zeros(self.config.batch_size, bool))
        with self._lock:
            live = [self._train[i] for i in
                    self._generator.choice(len(self._train), int((~replaying).sum()))]
        if not replaying.any():
            return live
        chosen = self._generator.choice(len(self._replayed), int(replaying.sum()))
        return live + [self._replayed_sample(int(i)) for i in chosen]

    def _start_metric(self):
        """Rescale a model of arbitrary scale to metres by the speed or the road (module doc)."""
        self._metric_checked = True
        by_speed = bool(self.loss_fn.config.velocity_weight and self.stats.with_speed)
        if self.model.config.metric_scale != 'none' or not (by_speed or self.config.camera_height):
            return
        with self._lock:
            samples = [self._batch([sample]) for sample in self._train]
        dataset = [{key: value[0] for key, value in sample.items()} for sample in samples]
        factor = start_metric(self.model, dataset, self.device, self.log,
                              0.0 if by_speed else self.config.camera_height)
        if factor is not None:
            # the rescaled weights are where a rollback returns to (not the unscaled ones), and
            # the node runs them at once: the same network, in metres
            self.accepted = self.weights()
            self._accept(f'the model in metres, rescaled by {factor:.3g}', math.nan)

    def _run(self):
        """Train, validate and swap until closed."""
        period = 1.0 / self.config.step_rate
        while not self._stop.wait(period):
            with self._lock:
                ready = len(self._train) >= self.config.min_triplets
            if not ready:
                continue
            try:
                if not self._replay_checked:
                    self._start_replay()
                if not self._metric_checked:
                    self._start_metric()
                self._step(self._draw())
            except Exception as error:  # the node must keep running whatever happens here
                self._roll_back(f'training failed: {type(error).__name__}: {error}')

    def _step(self, batch):
        """One training step; validation, swap or rollback when due."""
        result = self.training_step(self._batch(batch))
        self.stats.steps += 1
        self.stats.training_loss = float(result.terms['total'])
        if result.skipped or not all(torch.isfinite(p).all() for p in self.model.parameters()):
            self._roll_back(f'{result.skipped or "non-finite weights"} at step '
                            f'{self.stats.steps}')
            return
        if self.stats.steps % self.config.validate_every == 0:
            self._validate()

    @torch.no_grad()
    def validation_loss(self, held_out=None):
        """
        Return the training copy's mean validation criterion on held-out tuples.

        The criterion (:func:`~defeat_ros.trainer.criterion.validation_criterion`) is the
        photometric error: the feature terms of the total loss fall whatever depth does.

        :param held_out: held-out samples (see :meth:`_batch`); None: the current held-out set.
        :return: the mean criterion, NaN without held-out tuples.
        """
        if held_out is None:
            with self._lock:
                held_out = list(self._held_out)
        if len(held_out) < 1:
            return math.nan
        losses = []
        for seed, sample in enumerate(held_out):
            batch = self._batch([sample])
            _, terms = measure_loss(self.model, self.loss_fn, batch['target'],
                                    list(batch['sources'].unbind(1)), self.offsets,
                                    batch['k_norm'], seed, batch['distances'])
            losses.append(validation_criterion(terms, self.loss_fn.config))
        return float(torch.stack(losses).mean())

    def _validate(self):
        """Accept (save and swap) an improvement; roll back a divergence (module doc)."""
        with self._lock:
            held_out = list(self._held_out)
        loss = self.validation_loss(held_out)
        accepted = self._accepted_loss(held_out)
        self.stats.validation_loss, self.stats.accepted_validation_loss = loss, accepted
        if not math.isfinite(loss) or loss > self.config.divergence * accepted:
            self._roll_back(f'validation loss {loss:.4f} diverged (accepted weights '
                            f'{accepted:.4f})')
        elif loss < (1 - self.config.min_improvement) * accepted:
            self._accept(f'validation loss {loss:.4f}, was {accepted:.4f}', loss)

    def _accept(self, why, loss):
        """Save the training copy, hand it to ``swap`` and make it the accepted weights."""
        directory = Path(self.config.checkpoint_dir) / f'step_{self.stats.steps:06d}'
        save_model(self.model, directory)
        self.swap(directory)  # raises when the node cannot run it: nothing is accepted
        self.accepted = self.weights()
        self.stats.accepted_validation_loss = loss
        self.stats.swaps += 1
        self.stats.last_event = f'swapped in {directory.name} ({why})'
        self.log(self.stats.last_event)
        self._prune()

    def _accepted_loss(self, held_out):
        """Measure the accepted weights on ``held_out`` (the training copy is left as it was)."""
        trained = self.weights()
        self.model.load_state_dict(self.accepted)
        try:
            return self.validation_loss(held_out)
        finally:
            self.model.load_state_dict(trained)

    def _roll_back(self, reason):
        """Restore the last accepted weights with a fresh optimiser."""
        self.model.load_state_dict(self.accepted)
        self.training_step.optimiser = self.new_optimiser()
        self.stats.rollbacks += 1
        self.stats.last_event = f'rolled back: {reason}'
        self.log(self.stats.last_event)

    def _prune(self):
        """Delete all but the newest ``keep_checkpoints`` accepted model directories."""
        saved = sorted(Path(self.config.checkpoint_dir).glob('step_*'))
        for old in saved[:-self.config.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)

    def close(self, timeout=30.0):
        """Stop the training thread (after its current step)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
