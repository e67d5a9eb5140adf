"""The self-supervised objective of a batch of frame tuples: a training step, or a measurement."""

from dataclasses import dataclass
import math

from defeat_ros.losses import LossConfig
from defeat_ros.trainer.flip import unflip_outputs
import torch

DEFAULT_OFFSETS = (-1, 1)
"""Source frame offsets of a model that recorded none (DataConfig's default)."""


def recorded_objective(model_config, depth_supervision=False):
    """
    Return the source offsets and the LossConfig a model was trained with, for fine-tuning.

    They come from the ``train_config`` its provenance records (the Trainer writes it into
    every checkpoint); a model without one gets :data:`DEFAULT_OFFSETS` and the default loss.
    A recorded depth supervision is carried over only with ``depth_supervision``: fine-tuning
    supervises depth only on replayed training samples (:mod:`defeat_ros.trainer.replay`),
    never on the user's (a bag's depth topic only measures the result). A recorded
    ``velocity_weight`` of 0 becomes LossConfig's default: a model trained without speed labels
    (metric from exact depth) meets the user's camera, where the vehicle's speed is the only
    metric anchor; without speed in the data the term is inert.

    :param model_config: the ModelConfig of a model directory (``read_config``).
    :param depth_supervision: keep the recorded ``depth_supervision_weight`` (else 0).
    :return: (list of S int offsets relative to the target, LossConfig).
    """
    recorded = model_config.provenance.get('train_config', {})
    offsets = list(recorded.get('data', {}).get('offsets', DEFAULT_OFFSETS))
    loss = dict(recorded.get('loss', {}))
    if not depth_supervision:
        loss['depth_supervision_weight'] = 0.0
    if loss.get('velocity_weight') == 0:
        del loss['velocity_weight']
    return offsets, LossConfig.from_dict(loss)


@dataclass
class StepResult:
    """What one training step did."""

    terms: dict
    """The loss terms (0-d tensors, detached), 'total' among them."""
    outputs: object
    """The networks' TrainOutputs (unflipped)."""
    skipped: str = ''
    """Why the parameters were left unchanged; '' when the optimiser stepped."""


class TrainingStep:
    """
    Forward, DeFeatLoss, backward and update of one batch: the step of every kind of training.

    A non-finite loss (in any process) skips the backward pass and the update: NaN sampling
    coordinates must not reach grid_sample's backward. Without loss scaling, so does a
    non-finite gradient norm; a GradScaler skips steps with inf gradients itself.

    :param model: DeFeatNet in train mode (its parameters are clipped and stepped).
    :param loss_fn: DeFeatLoss.
    :param optimiser: a torch optimiser over ``model``'s parameters.
    :param offsets: S source frame offsets relative to the target (e.g. [-1, 1]).
    :param network: what runs the forward pass: ``model`` (the default) or its
        DistributedDataParallel wrapper.
    :param amp_dtype: autocast dtype of the networks (torch.bfloat16 or torch.float16); None
        runs them in float32. The losses always compute in float32.
    :param scaler: a torch.amp.GradScaler (enabled for fp16); None: no loss scaling.
    :param grad_clip: clip the global gradient norm to this; 0 does not clip.
    :param memory_format: memory layout of the network inputs (torch.channels_last or
        torch.contiguous_format).
    :param sum_over_processes: sums a 1-element float tensor over all training processes
        (DistributedDataParallel), so that every process skips together; None: this one only.
    :param processes: the number of training processes (named in the skip reason).
    """

    def __init__(self, model, loss_fn, optimiser, offsets, network=None, amp_dtype=None,
                 scaler=None, grad_clip=0.0, memory_format=torch.contiguous_format,
                 sum_over_processes=None, processes=1):
        """Keep the parts and the settings of the step."""
        self.model = model
        self.loss_fn = loss_fn
        self.optimiser = optimiser
        self.offsets = list(offsets)
        self.network = model if network is None else network
        self.amp_dtype = amp_dtype
        self.scaler = scaler or torch.amp.GradScaler(enabled=False)
        self.grad_clip = grad_clip
        self.memory_format = memory_format
        self.sum_over_processes = sum_over_processes or (lambda value: value)
        self.processes = processes

    def __call__(self, batch):
        """
        Take one step on ``batch``; return its :class:`StepResult`.

        :param batch: dict of tensors on the model's device: ``target`` B x 3 x H x W and
            ``sources`` B x S x 3 x H x W (what the loss compares), ``k_norm`` B x 3 x 3
            normalised intrinsics; optionally ``target_aug`` and ``sources_aug`` (the network
            inputs, the loss frames otherwise) and ``flipped`` B bool (which inputs are
            mirrored; none otherwise) and ``distances`` B x S (metres travelled to each source,
            NaN unknown: the velocity supervision; unknown otherwise) and ``labels`` B x H x W
            (uint8 train ids of the target, 255 unknown: the segmentation and semantic terms;
            all unknown otherwise) and ``depth`` B x 1 x H x W (exact depth of the target, 0
            unknown: the depth supervision).
        """
        sources = list(batch['sources'].unbind(1))
        sources_aug = [source.contiguous(memory_format=self.memory_format)
                       for source in batch.get('sources_aug', batch['sources']).unbind(1)]
        target_aug = batch.get('target_aug', batch['target']).contiguous(
            memory_format=self.memory_format)
        with torch.autocast(target_aug.device.type, dtype=self.amp_dtype,
                            enabled=self.amp_dtype is not None):
            outputs = self.network(target_aug, sources_aug, self.offsets,
                                   self.loss_fn.needs_source_depth, self.loss_fn.uses_features)
            if 'flipped' in batch:
                outputs = unflip_outputs(outputs, batch['flipped'])
        total, terms = self.loss_fn(outputs, batch['target'], sources, batch['k_norm'].float(),
                                    self.model.to_depth, batch.get('distances'),
                                    batch.get('labels'), batch.get('depth'))
        self.optimiser.zero_grad(set_to_none=True)
        non_finite = self.sum_over_processes(
            (~torch.isfinite(total.detach())).float().reshape(1)).item()
        if non_finite:
            return StepResult(terms, outputs, f'non-finite loss in {non_finite:.0f} of '
                                              f'{self.processes} processes')
        self.scaler.scale(total).backward()
        self.scaler.unscale_(self.optimiser)
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                              self.grad_clip or math.inf)
        if not torch.isfinite(norm) and not self.scaler.is_enabled():
            return StepResult(terms, outputs, f'non-finite gradient norm {norm.item()}')
        self.scaler.step(self.optimiser)  # with AMP, skips steps with inf gradients itself
        self.scaler.update()
        return StepResult(terms, outputs)


@torch.no_grad()
def measure_loss(model, loss_fn, target, sources, offsets, k_norm, seed=0, distances=None,
                 labels=None):
    """
    Return the DeFeatLoss of a batch without learning: (total, terms), in eval mode.

    The contrastive term samples pixels; they are drawn from ``seed`` (the global random state
    is left as it was), so the same batch gives the same draws before and after training.

    :param model: DeFeatNet (its train/eval mode is restored afterwards).
    :param loss_fn: DeFeatLoss.
    :param target: B x 3 x H x W frame t; sources: list of S frames B x 3 x H x W.
    :param offsets: S frame offsets relative to t.
    :param k_norm: B x 3 x 3 normalised intrinsics.
    :param seed: seed of the loss's random draws.
    :param distances: B x S metres travelled to each source (NaN unknown), or None.
    :param labels: B x H x W train ids of the target (255 unknown), or None.
    """
    training = model.training
    model.eval()
    devices = [target.device.index or 0] if target.is_cuda else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        outputs = model.forward_train(target, sources, offsets, loss_fn.needs_source_depth,
                                      loss_fn.uses_features)
        total, terms = loss_fn(outputs, target, sources, k_norm, model.to_depth, distances,
                               labels)
    model.train(training)
    return total, terms
