"""The training loop: DeFeatNet + DeFeatLoss over a dataset of frame tuples."""

from dataclasses import replace
import logging
from pathlib import Path
import random
import time

from defeat_ros.geometry import correspondences, sample, scale_intrinsics
from defeat_ros.losses import DeFeatLoss
from defeat_ros.nets import DeFeatNet, load_model
from defeat_ros.nets.depth_net import DEPTH_SCALES
from defeat_ros.trainer import distributed
from defeat_ros.trainer.checkpoint import load_checkpoint, save_checkpoint
from defeat_ros.trainer.held_out import held_out_metrics
from defeat_ros.trainer.run_log import RunLog
from defeat_ros.trainer.sampler import EpochSampler
from defeat_ros.trainer.step import TrainingStep
from defeat_ros.trainer.weight_average import WeightAverage
from defeat_ros.visualisation import colourise_depth, colourise_features, rgb_to_uint8
import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Subset

LOG = logging.getLogger(__name__)


VALIDATION_REPORTED = ('loss', 'criterion', 'velocity', 'abs_rel', 'a1', 'metric_abs_rel')
"""Held-out measurements logged at every validation (those the data allows)."""


class NonFiniteLoss(RuntimeError):
    """Training produced too many non-finite losses in a row to continue."""


def seed_everything(seed):
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def leaves_parameters_unused(config):
    """
    Whether some DeFeatNet parameters get no gradient in training as TrainConfig ``config`` says.

    FeatNet without feature losses, DepthNet heads beyond ``loss.scales``, an explainability
    decoder the loss does not read: DistributedDataParallel must then look for unused
    parameters every step (it fails at the second step otherwise).
    """
    loss, model = config.loss, config.model
    return (not loss.uses_features or loss.scales < len(DEPTH_SCALES)
            or (model.explainability and not loss.explainability))


def seed_worker(worker_id):
    """Give every data-loading worker its own reproducible random streams."""
    seed = torch.initial_seed() % 2 ** 32
    random.seed(seed)
    np.random.seed(seed)


def scale_source(config, speed_sources, has_depth=False):
    """
    Return the model's ``metric_scale`` after training, and a line saying why.

    'velocity' when the loss supervises PoseNet's translation with recorded speed; else
    'camera_height' when the camera-height loss is on (it then supervises every sample); else
    'depth_supervision' when exact depth in metres supervises every sample's depth (the
    photometric warp then carries that scale to the translation); otherwise the configured
    model's (that of the model fine-tuned from).

    :param config: the TrainConfig.
    :param speed_sources: where the training set's speeds come from ([]: it has none).
    :param has_depth: whether every training sample carries exact depth.
    """
    weight, height_weight = config.loss.velocity_weight, config.loss.camera_height_weight
    height = f'camera-height supervision (weight {height_weight}, {config.loss.camera_height} m)'
    if speed_sources and weight:
        return 'velocity', (f'velocity supervision (weight {weight}), speed from '
                            f'{", ".join(speed_sources)}: the model will be metric'
                            + (f'; {height} on samples without speed' if height_weight else ''))
    if height_weight:
        return 'camera_height', (height + (', no speed in the training data' if weight else '')
                                 + ': the model will be metric')
    no_speed = 'no speed in the training data' if weight else 'velocity supervision off'
    if has_depth and config.loss.depth_supervision_weight:
        return 'depth_supervision', (f'{no_speed}; depth supervised by exact depth (weight '
                                     f'{config.loss.depth_supervision_weight}): the model will '
                                     'be metric')
    scale = config.model.metric_scale
    return scale, f'{no_speed}: the scale stays {"arbitrary" if scale == "none" else scale}'


def training_camera_focal_y(dataset):
    """
    Return the ``fy / H`` the frame sources of ``dataset`` share, for ``camera_focal_y``.

    Their median; 0.0 when they differ by more than 1 % or are unknown (a dataset without
    :class:`~defeat_ros.data.sequence_dataset.FrameSource` s, such as a replay mixture of two
    cameras).
    """
    sources = getattr(dataset, 'sources', None) or []
    values = [float(source.k_norm[1, 1]) for source in sources if source.k_norm is not None]
    if not values or len(values) < len(sources) or max(values) > 1.01 * min(values):
        return 0.0
    return round(float(np.median(values)), 4)


def supervision_note(config, has_depth):
    """
    Return a line on the depth supervision of a run ('' when it is off).

    :param config: the TrainConfig.
    :param has_depth: whether every training sample carries exact depth.
    """
    weight = config.loss.depth_supervision_weight
    if not weight:
        return ''
    if not has_depth:
        return (f'depth_supervision_weight is {weight} but the training data has no exact '
                'depth: self-supervised only')
    return f'depth supervised by the exact depth of the training data (weight {weight})'


class Trainer:
    """
    Train a DeFeatNet on ``dataset`` as ``config`` (TrainConfig) says.

    Dataset items are the samples of :mod:`defeat_ros.data.sample`: ``target`` 3 x H x W and
    ``sources`` S x 3 x H x W (loss targets), ``target_aug`` / ``sources_aug`` (the network
    inputs: colour-jittered, maybe flipped), ``flipped`` (bool) and ``k_norm`` 3 x 3.
    """

    def __init__(self, config, dataset, log=print, weights=None, validation=None):
        """
        Build model, loss, optimiser, loader and logs; resume when a checkpoint exists.

        :param weights: optional N sampling weights of the dataset's items: batches then draw
            items with replacement in proportion to them (a single process only).
        :param validation: optional held-out dataset, measured every ``validate_every`` steps.
        """
        self.validation = validation
        self.on_validation = lambda step, summary: None
        """Called with (step, summary of held_out_metrics) after each validation (rank 0)."""
        self.config = config
        self.device = distributed.setup()
        self.rank = distributed.rank()
        self.log = log if self.rank == 0 else (lambda *_: None)
        seed_everything(config.seed + self.rank)
        self.memory_format = (torch.channels_last if config.optim.channels_last
                              else torch.contiguous_format)
        speed_sources = getattr(dataset, 'speed_sources', [])
        self.speed_supervised = bool(speed_sources and config.loss.velocity_weight)
        has_depth = getattr(dataset, 'has_depth', False)
        scale, self.scale_note = scale_source(
            config, speed_sources, has_depth and getattr(dataset, 'depth_sets_scale', True))
        self.supervision_note = supervision_note(config, has_depth)
        self.model = DeFeatNet(replace(config.model, provenance={}, metric_scale=scale,
                                       camera_focal_y=training_camera_focal_y(dataset))).to(
            self.device, memory_format=self.memory_format)
        self.loss = DeFeatLoss(config.loss).to(self.device)
        self.optimiser = torch.optim.Adam(self.model.parameters(), config.optim.learning_rate)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimiser, config.optim.step_size,
                                                         config.optim.gamma)
        self.amp_dtype = config.optim.autocast_dtype(self.device.type)
        self.precision = {None: 'fp32', torch.bfloat16: 'bf16', torch.float16: 'fp16'}[
            self.amp_dtype]
        # fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none.
        self.scaler = torch.amp.GradScaler(self.device.type,
                                           enabled=self.amp_dtype == torch.float16)
        self.out = Path(config.out)
        self.step, self.epoch, self.bad_steps = 0, 0, 0
        checkpoint = self.out / 'checkpoint'
        resuming = config.resume and (checkpoint / 'config.json').is_file()
        if config.init_from and not resuming:
            self.initialise(config.init_from)
        self.average = (WeightAverage(self.model, config.optim.ema_decay, config.optim.ema_start)
                        if config.optim.ema_decay else None)
        if resuming:
            self.step, self.epoch = load_checkpoint(checkpoint, self.model, self.optimiser,
                                                    self.scheduler, self.scaler, self.average)
            self.log(f'resumed from {checkpoint} at step {self.step}, epoch {self.epoch}')
        self.network = self.model
        if distributed.world_size() > 1:
            self.network = DistributedDataParallel(
                self.model, find_unused_parameters=leaves_parameters_unused(config))
        self.loader = self.make_loader(dataset, weights)
        self.offsets = list(config.data.offsets)
        # Every process skips together: one that stepped alone would wait in all-reduce.
        self.training_step = TrainingStep(
            self.model, self.loss, self.optimiser, self.offsets, network=self.network,
            amp_dtype=self.amp_dtype, scaler=self.scaler, grad_clip=config.optim.grad_clip,
            memory_format=self.memory_format,
            sum_over_processes=distributed.sum_over_processes,
            processes=distributed.world_size())
        self.run_log = RunLog(self.out, enabled=self.rank == 0)

    def initialise(self, directory):
        """Copy the weights of the model directory ``directory`` into the model."""
        try:
            self.model.load_state_dict(load_model(directory).state_dict())
        except RuntimeError as error:
            raise ValueError(f'init_from {directory}: its networks differ from config.model '
                             f'({str(error).splitlines()[0]})') from None
        self.log(f'initialised from {directory}')

    def make_loader(self, dataset, weights=None):
        """Shuffled (or weighted) batches, one shard per process under torchrun, no last one."""
        sampler = EpochSampler(len(dataset), self.config.seed, self.rank,
                               distributed.world_size(), weights)
        data = self.config.data
        if sampler.per_process < data.batch_size:
            raise ValueError(f'{len(dataset)} training samples give each of '
                             f'{distributed.world_size()} processes {sampler.per_process}, '
                             f'fewer than one batch of data.batch_size {data.batch_size}')
        # The loader's own generator: iterating it would otherwise draw from the global one,
        # and a resumed run (global state restored) would draw differently from an unbroken one.
        return DataLoader(dataset, batch_size=data.batch_size, sampler=sampler,
                          num_workers=data.workers, drop_last=True,
                          pin_memory=self.device.type == 'cuda', worker_init_fn=seed_worker,
                          generator=torch.Generator().manual_seed(self.config.seed + self.rank))

    @property
    def result(self):
        """Return the model the run publishes: the weight average once it runs, else the model."""
        return self.model if self.average is None else self.average.result

    @property
    def steps_per_epoch(self):
        """Full batches in one epoch of this process."""
        return self.loader.sampler.per_process // self.config.data.batch_size

    def train_step(self, batch):
        """
        One optimisation step; returns the loss terms, or None when the step was skipped.

        A non-finite loss or gradient skips the step (logged); ``nan_patience`` such steps in a
        row raise NonFiniteLoss rather than training on garbage.
        """
        batch = {k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v
                 for k, v in batch.items()}
        result = self.training_step(batch)
        if result.skipped:
            return self.skip(result.skipped)
        self.bad_steps = 0
        if self.average is not None:
            self.average.update(self.step + 1)
        self.last = (batch, result.outputs)
        return result.terms

    def skip(self, reason):
        """Count a skipped step; give up after ``nan_patience`` in a row."""
        self.bad_steps += 1
        self.log(f'step {self.step}: skipped ({reason}); {self.bad_steps} in a row')
        self.run_log.scalar(self.step, {'skipped_steps': float(self.bad_steps)})
        if self.bad_steps >= self.config.nan_patience:
            raise NonFiniteLoss(f'{self.bad_steps} non-finite steps in a row at step '
                                f'{self.step}: lower the learning rate or check the data')
        return None

    def train(self):
        """Run to the configured epochs or steps; returns the final model directory."""
        cfg = self.config
        per_epoch = self.steps_per_epoch
        total_steps = cfg.max_steps or cfg.epochs * per_epoch
        processes = distributed.world_size()
        self.log(f'training {total_steps} steps on {self.device.type} {self.precision}'
                 + (f', {processes} processes' if processes > 1 else ''))
        self.log(self.scale_note)
        if self.supervision_note:
            self.log(self.supervision_note)
        if self.average is not None:
            self.log(f'averaging the weights from step {cfg.optim.ema_start} '
                     f'(ema_decay {cfg.optim.ema_decay}): the result is the average')
        start, start_step = time.time(), self.step
        while self.epoch < cfg.epochs and self.step < total_steps:
            # Every finished epoch was whole: the steps beyond them were taken in this one.
            done = min(max(self.step - self.epoch * per_epoch, 0), per_epoch)
            self.loader.sampler.set_epoch(self.epoch, skip=done * cfg.data.batch_size)
            if hasattr(self.loader.dataset, 'set_epoch'):  # fresh augmentation draws
                self.loader.dataset.set_epoch(self.epoch)
            for batch in self.loader:
                terms = self.train_step(batch)
                self.step += 1
                done += 1
                if terms is not None and self.step % cfg.log_every == 0:
                    self.report(terms, start, start_step, total_steps)
                if self.step % cfg.image_every == 0 and terms is not None:
                    self.log_images()
                if self.validation is not None and self.step % cfg.validate_every == 0:
                    self.validate()
                if self.step % cfg.checkpoint_every == 0:
                    self.checkpoint()
                if self.step >= total_steps:
                    break
            if done == per_epoch:  # a whole epoch, not a step limit mid-epoch
                self.epoch += 1
                self.scheduler.step()
            self.checkpoint()
        self.run_log.close()
        return self.out / 'checkpoint'

    def report(self, terms, start, start_step, total_steps):
        """Progress line with loss, speed and ETA; scalars to the logs."""
        values = {k: distributed.mean_over_processes(v).item() for k, v in terms.items()}
        values['learning_rate'] = self.optimiser.param_groups[0]['lr']
        self.run_log.scalar(self.step, values)
        rate = (self.step - start_step) / max(time.time() - start, 1e-9)
        eta = (total_steps - self.step) / max(rate, 1e-9)
        images = rate * self.config.data.batch_size * distributed.world_size()
        velocity = (f'velocity error {values["velocity"]:.3f} m '
                    if self.speed_supervised else '')
        height = (f'camera-height squared log error {values["camera_height"]:.4f} '
                  if 'camera_height' in values else '')
        self.log(f'step {self.step}/{total_steps} epoch {self.epoch} loss {values["total"]:.4f} '
                 f'{velocity}{height}{images:.1f} img/s ETA {eta / 60:.1f} min')

    def validate(self):
        """
        Log the held-out self-supervised loss and, with ground truth, median-scaled depth.

        The same evenly spaced samples and the same contrastive draws every time, so the
        curve shows the model changing, not the sample. Rank 0 only (other ranks wait).
        """
        if self.rank == 0:
            count = min(self.config.validation_samples, len(self.validation))
            indices = np.linspace(0, len(self.validation) - 1, count).round().astype(int)
            summary = held_out_metrics(
                self.result, self.loss, Subset(self.validation, sorted(set(indices.tolist()))),
                self.offsets, self.config.data.batch_size, self.device)
            values = {f'val/{k}': summary[k] for k in VALIDATION_REPORTED if k in summary}
            self.run_log.scalar(self.step, values)
            self.log(f'step {self.step}: validation ' +
                     ', '.join(f'{k[4:]} {v:.4f}' for k, v in values.items()))
            self.on_validation(self.step, summary)
        distributed.barrier()

    def log_images(self):
        """Depth colour map, feature PCA and the first source warped into the target."""
        batch, outputs = self.last
        outputs = outputs.to_float()
        depth = self.model.to_depth(outputs.disparities[0][0, 0]).detach()
        height, width = depth.shape
        k_pix = scale_intrinsics(batch['k_norm'][:1].float(), height, width)
        pixels, _ = correspondences(depth.view(1, 1, height, width), outputs.poses[0][:1].detach(),
                                    k_pix)
        warped = sample(batch['sources'][:1, 0], pixels)[0]
        self.run_log.image(self.step, 'target', rgb_to_uint8(batch['target'][0]))
        self.run_log.image(self.step, 'depth', colourise_depth(depth))
        if outputs.features is not None:
            self.run_log.image(self.step, 'features',
                               colourise_features(outputs.features[0].detach().cpu()))
        self.run_log.image(self.step, 'warped_source', rgb_to_uint8(warped))

    def checkpoint(self):
        """Save the resumable state under out (rank 0 only)."""
        if self.rank == 0:
            provenance = {'step': self.step, 'epoch': self.epoch,
                          'train_config': self.config.to_dict()}
            if self.average is not None and self.average.steps:
                provenance['averaged_steps'] = self.average.steps
            self.result.config.provenance.update(provenance)
            save_checkpoint(self.out / 'checkpoint', self.model, self.optimiser, self.scheduler,
                            self.scaler, self.step, self.epoch, self.average)
