"""
Self-supervised fine-tuning of a model on rosbag2 recordings (``defeat-ros finetune``).

The frames of each bag's image topic (intrinsics from its CameraInfo, see
:mod:`defeat_ros.data.rosbag_sequence`) are cut in two: the last ``held_out`` fraction of every
bag is never trained on and measures the model before and after; the rest is trained on with the
:class:`~defeat_ros.trainer.trainer.Trainer` and the DeFeat loss the source model was trained
with (its recorded ``train_config``; the defaults otherwise), starting from its weights. Samples
where the camera stands still are skipped and night and day can be balanced (see
:mod:`defeat_ros.data.frame_selection`). Where the bags record the vehicle's speed (a wheel
odometry or twist topic), the velocity supervision makes the model metric: a source model of
arbitrary scale is first rescaled by the factor the speed measures
(:mod:`defeat_ros.trainer.metric_start`); without speed, ``camera_height`` does the same with
the road plane and the camera-height loss. Where the source model's own training data can be
rebuilt here (the synthetic world can, anywhere), part of every epoch replays it with the
recorded objective, depth supervision included, so that what the model learnt is kept
(:mod:`defeat_ros.trainer.replay`). Before and after, the held-out frames are measured by
the validation criterion (:mod:`defeat_ros.trainer.criterion`), the loss, and depth metrics
(median-scaled and metric) where they have ground truth. The result is a new model directory
with provenance (bags, steps, source model, held-out numbers) and ONNX files of its networks.
"""

from dataclasses import dataclass, field, replace
import math
from pathlib import Path
import shutil
import tempfile
import time
import uuid

from defeat_ros.data.frame_selection import balance_weights, brightness, motion, NIGHT_BRIGHTNESS
from defeat_ros.data.frame_selection import STATIC_THRESHOLD
from defeat_ros.data.rosbag_sequence import BagConfig, BagSequence
from defeat_ros.data.sample import SampleConfig
from defeat_ros.data.sequence_dataset import SequenceDataset
from defeat_ros.nets import save_model
from defeat_ros.nets.model_dir import read_config
from defeat_ros.runtime.onnx_export import export_onnx
from defeat_ros.trainer.config import DataConfig, OptimConfig, TrainConfig
from defeat_ros.trainer.held_out import held_out_metrics
from defeat_ros.trainer.metric_start import start_metric
from defeat_ros.trainer.replay import mixture_weights, replay_dataset, ReplayMixture
from defeat_ros.trainer.step import recorded_objective
from defeat_ros.trainer.trainer import Trainer
from defeat_ros.typed_config import option, TypedConfig
import numpy as np
import torch


VALIDATIONS = 5
"""Held-out measurements during a run (besides before and after): candidates to keep."""

REPORTED = ('criterion', 'photometric', 'velocity', 'loss', 'abs_rel', 'a1', 'metric_abs_rel')
"""Held-out measurements logged before and after (those the data allows)."""


@dataclass
class FinetuneConfig(TypedConfig):
    """A fine-tuning run: bags in, a new model directory out."""

    bags: list = option([], 'rosbag2 recording with a camera (directory or one .mcap/.db3 '
                        'file)', flag='--bag', repeat=True, required=True)
    source: str = option('', 'Model directory to start from', flag='--from', required=True)
    out: str = option('', 'New model directory to write (must not exist)', required=True)
    steps: int = option(200, 'Optimisation steps', minimum=1, maximum=10000000)
    batch_size: int = option(4, 'Frame triplets per step', minimum=1, maximum=4096)
    learning_rate: float = option(5e-5, 'Adam learning rate (constant)', minimum=1e-10,
                                  maximum=1.0)
    height: int = option(0, "Training height in pixels (multiple of 32); 0: the source model's",
                         minimum=0, maximum=4320)
    width: int = option(0, "Training width in pixels (multiple of 32); 0: the source model's",
                        minimum=0, maximum=7680)
    workers: int = option(0, 'Data-loading worker processes', minimum=0, maximum=256)
    static_threshold: float = option(STATIC_THRESHOLD, 'Skip frames whose thumbnail differs '
                                     'less than this (mean absolute RGB in [0, 1]) from a '
                                     'neighbour: a standing camera; 0 keeps all (details: '
                                     'defeat_ros/data/frame_selection.py)', minimum=0.0,
                                     maximum=1.0)
    balance_lighting: bool = option(False, 'Draw night frames (dark: low mean luma) and day '
                                    'frames equally often')
    held_out: float = option(0.1, "Fraction of each bag's frames, at its end, measured but "
                             'never trained on', minimum=0.0, maximum=1.0)
    image_topic: str = option('', "Image topic of the bags; empty: each bag's only colour image "
                              'topic')
    depth_topic: str = option('', 'Ground-truth depth topic: also report depth metrics on the '
                              'held-out frames')
    speed_topic: str = option('', 'Speed topic (Odometry, TwistStamped, '
                              "TwistWithCovarianceStamped); empty: the bag's only one; none: no "
                              'speed')
    camera_height: float = option(0.0, 'Height of the camera above the road (m): without '
                                  'speed, a model of arbitrary scale is rescaled to metres by '
                                  'the road plane fitted to its depth at this height (a flat '
                                  'road in the lower image) and recorded metric; 0: off',
                                  minimum=0.0, maximum=100.0)
    camera_height_weight: float = option(0.0, 'Weight of the camera-height loss (with '
                                         '--camera-height); 0: the model is only rescaled to '
                                         'the road before training (measured better: '
                                         'docs/metric_scale.md)', minimum=0.0, maximum=100.0)
    replay: float = option(0.5, "Share of the training draws taken from the source model's own "
                           'training data with its recorded objective (depth supervision '
                           'included), where that data can be rebuilt here; keeps what the '
                           'model learnt. 0: the bags alone', minimum=0.0, maximum=0.95)
    keep: str = option('best', 'Which weights the new model gets: best (the lowest held-out '
                       'criterion among the source, five validations and the last step) or '
                       'last (the last step)', choices=('best', 'last'))
    seed: int = option(0, "Seed of sampling, augmentation and the loss's random draws")

    def __post_init__(self):
        """Check the numbers before any work is done."""
        if not self.bags or not self.source or not self.out:
            raise ValueError('finetune needs bags (--bag), a source model (--from) and an '
                             'output directory (--out)')
        if not 0 < self.held_out < 1:
            raise ValueError(f'held_out must be a fraction in (0, 1), got {self.held_out}')
        self.check_options()


@dataclass
class Selection:
    """Which samples of the bags to train on and to measure on."""

    train: list = field(default_factory=list)
    """(bag number, target frame) of every training sample."""
    held_out: list = field(default_factory=list)
    """(bag number, target frame) of every held-out sample."""
    night: list = field(default_factory=list)
    """Per training sample, whether its target is a night frame."""
    static: int = 0
    """Samples skipped because the camera stood still (training and held-out)."""


def split_targets(source, offsets, held_out):
    """
    Return the valid targets of a bag before and inside its held-out end.

    The last ``ceil(held_out * F)`` frames are held out: held-out samples read only those,
    training samples none of them.

    :param source: a :class:`~defeat_ros.data.rosbag_sequence.BagSequence` of F frames.
    :param offsets: the source offsets.
    :param held_out: the held-out fraction.
    :return: (training targets, held-out targets), int64 arrays.
    """
    first_held = source.count - math.ceil(held_out * source.count)
    targets = source.valid_targets(offsets)
    train = targets[targets + max(max(offsets), 0) < first_held]
    held = targets[targets + min(min(offsets), 0) >= first_held]
    return train, held


def select_samples(sources, offsets, config):
    """
    Split every bag, drop samples of a standing camera and classify the training ones.

    :param sources: the bags' frame sources.
    :param offsets: the source offsets.
    :param config: the :class:`FinetuneConfig`.
    :return: a :class:`Selection`.
    """
    selection = Selection()

    def moving(source, targets):
        keep = motion(source, targets, offsets) >= config.static_threshold
        selection.static += int(np.count_nonzero(~keep))
        return targets[keep]

    for number, source in enumerate(sources):
        train, held = (moving(source, t) for t in split_targets(source, offsets,
                                                                config.held_out))
        selection.train += [(number, int(t)) for t in train]
        selection.held_out += [(number, int(t)) for t in held]
        selection.night += [bool(d) for d in brightness(source, train) < NIGHT_BRIGHTNESS]
    if len(selection.train) < config.batch_size:
        raise ValueError(f'bags {", ".join(config.bags)}: {len(selection.train)} moving '
                         f'training samples, fewer than the batch size {config.batch_size} '
                         f'({selection.static} skipped as static); record a longer drive or '
                         f'lower --static-threshold or --batch-size')
    if not selection.held_out:
        raise ValueError(f'bags {", ".join(config.bags)}: the held-out last '
                         f'{config.held_out:.0%} of the frames hold no moving frame window; '
                         f'record longer bags or raise --held-out')
    return selection


def sample_dataset(sources, chosen, sample):
    """Return the SequenceDataset of ``chosen`` (bag number, target frame) pairs."""
    numbers, frames = zip(*chosen)
    return SequenceDataset(sources, sample, numbers, frames)


def check_paths(config):
    """Fail early, naming the option, on a missing bag or source model or an existing output."""
    for bag in config.bags:
        if not Path(bag).exists():
            raise FileNotFoundError(f'--bag {bag}: no such bag')
    source, out = Path(config.source), Path(config.out)
    if not source.exists():
        raise FileNotFoundError(f'--from {source}: the model directory does not exist')
    try:
        read_config(source)
    except (FileNotFoundError, ValueError) as error:
        raise type(error)(f'--from {source}: {error}') from None
    if out.exists():
        raise FileExistsError(f'--out {out} already exists; choose a new directory '
                              f'(nothing was changed)')


def train_config(config, source_config, trainer_out):
    """
    Return the TrainConfig of a fine-tuning run.

    Architecture, loss and source offsets come from the source model (its recorded
    ``train_config`` when there is one), the resolution and the camera height from ``config``
    when set.
    """
    offsets, loss = recorded_objective(source_config)
    if config.camera_height:
        loss = replace(loss, camera_height=config.camera_height,
                       camera_height_weight=config.camera_height_weight)
    model = replace(source_config, provenance={},
                    height=config.height or source_config.height,
                    width=config.width or source_config.width)
    data = DataConfig(dataset='rosbag',
                      source={'paths': list(config.bags), 'image_topic': config.image_topic,
                              'depth_topic': config.depth_topic,
                              'speed_topic': config.speed_topic},
                      offsets=offsets,
                      batch_size=config.batch_size, workers=config.workers)
    optim = OptimConfig(learning_rate=config.learning_rate, step_size=config.steps + 1,
                        gamma=1.0)
    return TrainConfig(model=model, loss=loss, data=data, optim=optim, epochs=config.steps,
                       max_steps=config.steps, seed=config.seed, out=str(trainer_out),
                       log_every=max(1, config.steps // 10), image_every=config.steps + 1,
                       checkpoint_every=config.steps + 1, resume=False,
                       init_from=str(config.source))


def write_model(model, out):
    """Write the model directory and its ONNX files to ``out`` in one rename."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f'.{out.name}.{uuid.uuid4().hex[:8]}.partial')
    partial.mkdir()  # permissions from the umask, as the renamed model directory should have
    try:
        save_model(model, partial)
        export_onnx(partial)
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial)
        raise
    return out


class BestWeights:
    """
    The weights with the lowest held-out validation criterion so far: what fine-tuning keeps.

    Offered the source model first (step 0), then the state after every validation and at the
    end, it keeps a copy of the best; the new model is that state, the source's own weights
    when no step improved the criterion.
    """

    def __init__(self, model):
        """Watch ``model`` (the DeFeatNet being trained); nothing is kept yet."""
        self.model, self.state, self.step, self.summary = model, None, 0, None

    def offer(self, step, summary, replace_any=False):
        """Keep the model's current weights when ``summary['criterion']`` is the best yet."""
        if replace_any or self.summary is None or summary['criterion'] < \
                self.summary['criterion']:
            self.step, self.summary = step, summary
            self.state = {name: value.detach().clone()
                          for name, value in self.model.state_dict().items()}

    def restore(self, log, last_step):
        """Load the kept weights into the model, say which they are, return their summary."""
        self.model.load_state_dict(self.state)
        if self.step == last_step:
            log(f'kept the weights of the last step ({last_step})')
        elif self.step:
            log(f'kept the weights of step {self.step} of {last_step}: the best held-out '
                f'criterion ({self.summary["criterion"]:.4f})')
        else:
            log('no step improved the held-out criterion: the new model keeps the weights '
                'it started from')
        return self.summary


def with_replay(config, source_config, train, log):
    """
    Return the source model's training dataset to replay and the run's TrainConfig for it.

    With replay the run's loss keeps the recorded depth supervision (only replayed samples
    carry depth). Without (``replay`` 0, or data that cannot be rebuilt here: the reason is
    logged) the dataset is None and ``train`` is returned as it is.

    :param config: the :class:`FinetuneConfig` (``replay`` is the share of draws).
    :param source_config: the source model's ModelConfig.
    :param train: the run's TrainConfig (:func:`train_config`).
    :param log: where the decision is told.
    :return: (dataset or None, TrainConfig).
    """
    if not config.replay:
        return None, train
    try:
        replayed = replay_dataset(source_config, train.model.height, train.model.width,
                                  train.data.offsets, config.seed)
    except ValueError as error:
        log(f'no replay ({error}): fine-tuning on the bags alone')
        return None, train
    recorded = recorded_objective(source_config, depth_supervision=True)[1]
    train = replace(train, loss=replace(
        train.loss, depth_supervision_weight=recorded.depth_supervision_weight))
    weight = train.loss.depth_supervision_weight
    supervision = (f'depth supervision weight {weight}' if weight and replayed.has_depth
                   else 'no depth supervision')
    log(f"replaying the source model's training data ({len(replayed)} samples) in "
        f'{config.replay:.0%} of the draws, with its recorded objective ({supervision})')
    return replayed, train


def run_finetune(config, log=print):
    """
    Fine-tune ``config.source`` on ``config.bags`` and write ``config.out``.

    :param config: a :class:`FinetuneConfig`.
    :param log: progress and result lines.
    :return: summary dict: 'before' and 'after' held-out metrics, sample counts, 'seconds'.
    """
    start = time.time()
    check_paths(config)
    source_config = read_config(config.source)
    with tempfile.TemporaryDirectory(prefix='defeat-finetune-') as work:
        replayed, train = with_replay(config, source_config,
                                      train_config(config, source_config, work), log)
        height, width, offsets = train.model.height, train.model.width, train.data.offsets
        bag_config = BagConfig(paths=list(config.bags), image_topic=config.image_topic,
                               depth_topic=config.depth_topic, speed_topic=config.speed_topic)
        sources = [BagSequence(path, bag_config, height, width) for path in config.bags]
        selection = select_samples(sources, offsets, config)
        night = int(np.count_nonzero(selection.night))
        log(f'{len(selection.train)} training samples ({night} night), '
            f'{len(selection.held_out)} held out, {selection.static} skipped as static')
        sample = SampleConfig(height=height, width=width, offsets=offsets, seed=config.seed)
        held_out = sample_dataset(sources, selection.held_out,
                                  replace(sample, augment={'enabled': False}))
        weights = balance_weights(selection.night) if config.balance_lighting else None
        dataset = sample_dataset(sources, selection.train, sample)
        if replayed is not None:
            weights = mixture_weights(np.ones(len(dataset)) if weights is None else weights,
                                      len(replayed), config.replay)
            dataset = ReplayMixture(dataset, replayed)
        train = replace(train, validate_every=max(1, config.steps // VALIDATIONS),
                        validation_samples=len(held_out))
        trainer = Trainer(train, dataset, log,
                          weights=None if weights is None else torch.as_tensor(weights),
                          validation=held_out)
        measure = (trainer.model, trainer.loss, held_out, offsets, config.batch_size,
                   trainer.device)
        before = held_out_metrics(*measure)
        best = BestWeights(trainer.model)
        best.offer(0, before)
        trainer.on_validation = best.offer
        if source_config.metric_scale == 'none' and (trainer.speed_supervised
                                                     or config.camera_height):
            start_metric(trainer.model, sample_dataset(
                sources, selection.train, replace(sample, augment={'enabled': False})),
                trainer.device, log, 0.0 if trainer.speed_supervised else config.camera_height)
            best.offer(0, held_out_metrics(*measure), replace_any=True)
        trainer.train()
        best.offer(trainer.step, held_out_metrics(*measure), replace_any=config.keep == 'last')
        after = best.restore(log, trainer.step)
    summary = {'before': before, 'after': after, 'steps': trainer.step, 'kept_step': best.step,
               'train_samples': len(selection.train), 'night_samples': night,
               'replayed_samples': 0 if replayed is None else len(replayed),
               'held_out_samples': len(selection.held_out), 'static_skipped': selection.static}
    trainer.model.config.provenance.update({
        'made_by': 'defeat-ros finetune', 'source_model': str(config.source),
        'source_provenance': source_config.provenance, 'bags': [str(b) for b in config.bags],
        'finetune_config': config.to_dict(), **summary})
    write_model(trainer.model, config.out)
    summary['seconds'] = time.time() - start
    for name in [m for m in REPORTED if m in before]:
        log(f'held-out {name}: {before[name]:.4f} -> {after[name]:.4f}')
    verdict = 'better' if after['criterion'] < before['criterion'] else 'NOT better'
    log(f'the model is {verdict} on the held-out frames by the criterion (photometric error'
        + (' + velocity error' if 'velocity' in before else '')
        + (' + camera-height error' if trainer.loss.config.camera_height_weight else '') + ')')
    log(f'model written to {config.out} in {summary["seconds"]:.0f} s')
    return summary
