"""
Self-supervised (SimCLR) pretraining of a ResNet encoder (``defeat-ros pretrain-encoder``).

Where no ImageNet weights can be had, an encoder can still start from more than random numbers:
contrastive learning on the unlabeled frames themselves (SimCLR, Chen et al. 2020; TripleDNet
compares such initialisations with supervised ImageNet ones). Every frame is augmented twice
(random resized crop, horizontal flip, colour jitter, grey scale, blur); the
:class:`~defeat_ros.nets.resnet_encoder.ResnetEncoder`'s stride-32 map, averaged over the image,
goes through a projection MLP, and the NT-Xent loss (:func:`nt_xent`) pulls the two views of
a frame together and pushes the other frames of the batch away.

The frames are the ``target`` images of any dataset a TrainConfig's ``data`` section names
(synthetic, KITTI, RobotCar, image folders, rosbag2 bags), read at ``model.height`` x
``model.width`` without the trainer's augmentation. The result is a torchvision ResNet state
dict (``conv1.weight``, ``bn1.*``, ``layer1.0.conv1.weight``, ...; no ``fc``, no projection
head) in a ``.safetensors`` file whose header records how it was made (:data:`METADATA_KEYS`):
``model.pretrained_encoder`` loads it into all three encoders of a model of the same depth and
``encoder_width``. Batches and augmentations are drawn from (seed, step), so a run that
resumes from its checkpoint (``<run dir>/checkpoint.pt``) continues as an unbroken one would.
"""

from dataclasses import dataclass
import json
import math
from pathlib import Path
import re
import time

from defeat_ros.data.datasets import make_dataset
from defeat_ros.data.sample import SampleConfig
from defeat_ros.nets.resnet_encoder import ResnetEncoder
from defeat_ros.trainer.build import apply_overrides
from defeat_ros.trainer.config import TrainConfig
from defeat_ros.trainer.run_log import RunLog
from defeat_ros.typed_config import option, TypedConfig
import numpy as np
import torch
from torch import nn
from torch.nn import functional
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

METADATA_KEYS = ('format', 'producer', 'method', 'loss', 'temperature', 'depth',
                 'encoder_width', 'steps', 'batch_size', 'resolution', 'data', 'frames',
                 'optimiser', 'learning_rate', 'seed', 'final_loss', 'final_accuracy')
"""What the ``.safetensors`` header of a pretrained encoder records (all strings)."""

TORCHVISION_NAMES = [(r'^stem\.0\.', 'conv1.'), (r'^stem\.1\.', 'bn1.'),
                     (r'^layers\.(\d)\.', lambda m: f'layer{int(m.group(1)) + 1}.')]
"""ResnetEncoder state-dict key -> torchvision ResNet key."""


@dataclass
class PretrainConfig(TypedConfig):
    """A contrastive pretraining run: frames of a TrainConfig's data in, an encoder file out."""

    out: str = option('', 'Encoder file to write (.safetensors)', required=True)
    config: str = option('', 'TrainConfig YAML whose data section (dataset, source) and '
                         'model.height x model.width give the frames; empty: the default '
                         'TrainConfig (a synthetic street drive)')
    overrides: list = option([], 'Override a field of that config, KEY=VALUE, e.g. '
                             'data.source.seeds=[0,1,2]', flag='--set', repeat=True)
    layers: int = option(0, "ResNet depth, 18, 34 or 50 (0: the config's model.depth_layers)")
    encoder_width: int = option(0, "Encoder stem channels, 16, 32 or 64 (0: the config's "
                                'model.encoder_width)')
    steps: int = option(1000, 'Optimisation steps', minimum=1, maximum=10000000)
    batch_size: int = option(64, 'Frames per step (each gives two views; the other 2B - 2 '
                             'views are the negatives)', minimum=2, maximum=65536)
    temperature: float = option(0.2, 'NT-Xent temperature: SimCLR used 0.1 to 0.5 (lower '
                                'weighs the hardest negatives more)', minimum=0.01,
                                maximum=10.0)
    projection_dims: int = option(128, 'Output size of the projection MLP', minimum=1,
                                  maximum=65536)
    optimiser: str = option('adamw', 'Optimiser (momentum 0.9 for SGD)',
                            choices=('adamw', 'sgd'))
    learning_rate: float = option(1e-3, 'Peak learning rate (linear warm-up over the first '
                                  'twentieth of the steps, cosine decay to 0)', minimum=1e-10,
                                  maximum=100.0)
    weight_decay: float = option(1e-4, 'Weight decay', minimum=0.0, maximum=1.0)
    min_crop: float = option(0.2, 'Smallest random crop, as a share of the image area',
                             minimum=0.01, maximum=1.0)
    seed: int = option(0, 'Seed of the weights, batches and augmentations', minimum=0,
                       maximum=2 ** 31 - 1)
    workers: int = option(0, 'Data loading worker processes (0: in the training process)',
                          minimum=0, maximum=256)
    threads: int = option(0, "CPU threads of PyTorch (0: PyTorch's default)", minimum=0,
                          maximum=1024)
    device: str = option('auto', "'auto' (CUDA when available), 'cpu' or 'cuda'",
                         choices=('auto', 'cpu', 'cuda'))
    run_dir: str = option('', 'Folder of the logs (logs/: scalars.jsonl, TensorBoard) and '
                          'checkpoint.pt; empty: the name of the encoder file with .run')
    log_every: int = option(25, 'Steps between progress lines and logged scalars', minimum=1,
                            maximum=10000000)
    checkpoint_every: int = option(500, 'Steps between checkpoints', minimum=1,
                                   maximum=10000000)
    resume: bool = option(True, 'Continue from the checkpoint in the run folder when there is '
                          'one', flag='--no-resume')
    progress: bool = option(True, 'Show a progress bar (tqdm) on stderr',
                            flag='--no-progress')

    def __post_init__(self):
        """Check the options."""
        self.check_options()
        if self.out and not self.out.endswith('.safetensors'):
            raise ValueError(f'--out {self.out}: the encoder file must end in .safetensors')
        if self.layers not in (0, 18, 34, 50):
            raise ValueError(f"--layers must be 18, 34 or 50 (0: the config's), "
                             f'got {self.layers}')
        if self.encoder_width not in (0, 16, 32, 64):
            raise ValueError(f"--encoder-width must be 16, 32 or 64 (0: the config's), "
                             f'got {self.encoder_width}')

    def train_config(self):
        """Return the TrainConfig of ``config`` with the overrides applied."""
        values = {}
        if self.config:
            if not Path(self.config).is_file():
                raise FileNotFoundError(f'--config {self.config}: no such file')
            import yaml
            with open(self.config) as stream:
                values = yaml.safe_load(stream) or {}
        return TrainConfig.from_dict(apply_overrides(values, list(self.overrides)))

    def run_folder(self):
        """Return the run folder (logs and checkpoint)."""
        return Path(self.run_dir) if self.run_dir else Path(self.out).with_suffix('.run')


def nt_xent(first, second, temperature):
    """
    NT-Xent, SimCLR's normalised temperature-scaled cross entropy, of B pairs of embeddings.

    Both B x D sets are L2-normalised; each of the 2B embeddings must pick its partner (row i
    of the other set) among the other 2B - 1 by cosine similarity / ``temperature``:
    ``-log(exp(s_ip / t) / sum_{k != i} exp(s_ik / t))``, averaged over the 2B.

    :return: (loss, accuracy): the scalar loss and the share of embeddings whose most similar
        other embedding is their partner.
    """
    embeddings = functional.normalize(torch.cat([first, second]).float(), dim=1)
    count = len(first)
    logits = embeddings @ embeddings.t() / temperature
    logits = logits.masked_fill(torch.eye(2 * count, dtype=torch.bool,
                                          device=logits.device), float('-inf'))
    partners = torch.cat([torch.arange(count, 2 * count), torch.arange(count)]).to(
        logits.device)
    loss = functional.cross_entropy(logits, partners)
    accuracy = (logits.argmax(dim=1) == partners).float().mean()
    return loss, accuracy


class ContrastiveModel(nn.Module):
    """A ResnetEncoder and SimCLR's projection head: images B x 3 x H x W -> B x D."""

    def __init__(self, layers=18, width=64, projection_dims=128):
        super().__init__()
        self.encoder = ResnetEncoder(layers, 1, width=width)
        channels = self.encoder.channels[-1]
        self.head = nn.Sequential(nn.Linear(channels, channels), nn.ReLU(inplace=True),
                                  nn.Linear(channels, projection_dims))

    def forward(self, images):
        """Return the projections of the images' global average encoder features."""
        return self.head(self.encoder(images)[-1].mean(dim=(2, 3)))


def view_transform(height, width, min_crop=0.2):
    """
    Return SimCLR's augmentation of a 3 x H x W image in [0, 1], as torchvision v2 transforms.

    The crop keeps the frame's aspect ratio within 3/4 to 4/3 of it (a wide road frame is not
    squeezed square) and is resized to ``height`` x ``width``.
    """
    aspect = width / height
    return v2.Compose([
        v2.RandomResizedCrop((height, width), scale=(min_crop, 1.0),
                             ratio=(aspect * 3 / 4, aspect * 4 / 3), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        v2.RandomGrayscale(p=0.2),
        v2.RandomApply([v2.GaussianBlur(kernel_size=2 * (height // 20) + 1,
                                        sigma=(0.1, 2.0))], p=0.5),
    ])


def draw_seed(*numbers):
    """Return a 63-bit seed from a tuple of non-negative integers."""
    return int(np.random.SeedSequence(list(numbers)).generate_state(2, np.uint64)[0] >> 1)


class ViewPairs(Dataset):
    """
    Two augmented views of each frame of a dataset: item (index, seed) -> 2 x 3 x H x W.

    The augmentation draws from ``seed`` alone (the global random state is restored), so the
    views do not depend on worker processes or on what ran before.
    """

    def __init__(self, frames, transform):
        self.frames = frames
        self.transform = transform

    def __len__(self):
        """Return the number of frames."""
        return len(self.frames)

    def __getitem__(self, item):
        """Return the two views of frame ``index`` drawn with ``seed``."""
        index, seed = item
        image = self.frames[index]['target']
        state = torch.get_rng_state()
        try:
            torch.manual_seed(seed)
            views = [self.transform(image) for _ in range(2)]
        finally:
            torch.set_rng_state(state)
        return torch.stack(views).clamp(0.0, 1.0)


class StepBatches:
    """
    Batch sampler of ViewPairs: for each step from ``start``, B distinct frames and their seeds.

    Step s takes the next B frames of a random permutation of the frames (a new one each pass),
    so a batch never holds one frame twice (it would be its own negative).
    """

    def __init__(self, count, batch_size, seed, start, stop):
        if count < batch_size:
            raise ValueError(f'{count} frames are fewer than one batch of --batch-size '
                             f'{batch_size}')
        self.count, self.batch_size, self.seed = count, batch_size, seed
        self.start, self.stop = start, stop
        self.per_pass = count // batch_size

    def __len__(self):
        """Return the number of batches left."""
        return max(self.stop - self.start, 0)

    def __iter__(self):
        """Yield lists of (frame index, augmentation seed), one per step."""
        order, order_pass = None, -1
        for step in range(self.start, self.stop):
            number, position = divmod(step, self.per_pass)
            if number != order_pass:
                generator = torch.Generator().manual_seed(draw_seed(self.seed, 0, number))
                order, order_pass = torch.randperm(self.count, generator=generator), number
            chosen = order[position * self.batch_size:(position + 1) * self.batch_size]
            yield [(int(index), draw_seed(self.seed, 1, step, slot))
                   for slot, index in enumerate(chosen)]


def learning_rate_at(step, steps, peak):
    """Linear warm-up over the first 5% of ``steps``, then cosine decay to 0."""
    warmup = max(1, steps // 20)
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(steps - warmup, 1)))


def torchvision_state(encoder):
    """Return the encoder's weights with torchvision ResNet key names, contiguous, on the CPU."""
    state = {}
    for key, value in encoder.state_dict().items():
        for pattern, replacement in TORCHVISION_NAMES:
            key = re.sub(pattern, replacement, key)
        state[key] = value.detach().cpu().contiguous()
    return state


def read_metadata(path):
    """Return the string metadata of a ``.safetensors`` file's header ({} for none)."""
    from safetensors import safe_open
    with safe_open(str(path), framework='pt') as handle:
        return dict(handle.metadata() or {})


class EncoderPretraining:
    """
    SimCLR pretraining of a ResnetEncoder as a PretrainConfig says.

    :param config: the PretrainConfig.
    :param frames: the dataset (samples with ``target``); None: the one the config's
        TrainConfig names.
    :param log: where progress lines go.
    """

    def __init__(self, config, frames=None, log=print):
        """Build the data, model and optimiser; resume from the run's checkpoint if any."""
        self.config = config
        self.log = log
        train = config.train_config()
        self.layers = config.layers or train.model.depth_layers
        self.width = config.encoder_width or train.model.encoder_width
        self.height_width = (train.model.height, train.model.width)
        self.data = {'dataset': train.data.dataset, 'source': dict(train.data.source)}
        if config.threads:
            torch.set_num_threads(config.threads)
        if config.device == 'auto':
            self.device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
        else:
            self.device = torch.device(config.device)
        if frames is None:
            sample = SampleConfig(height=train.model.height, width=train.model.width,
                                  offsets=[], augment={'enabled': False}, seed=config.seed)
            frames = make_dataset(train.data.dataset, dict(train.data.source), sample)
        self.frames = frames
        self.pairs = ViewPairs(frames, view_transform(*self.height_width, config.min_crop))
        torch.manual_seed(config.seed)
        self.model = ContrastiveModel(self.layers, self.width, config.projection_dims).to(
            self.device)
        if config.optimiser == 'adamw':
            self.optimiser = torch.optim.AdamW(self.model.parameters(), config.learning_rate,
                                               weight_decay=config.weight_decay)
        else:
            self.optimiser = torch.optim.SGD(self.model.parameters(), config.learning_rate,
                                             momentum=0.9, weight_decay=config.weight_decay)
        self.step = 0
        self.history = []
        """(step, loss, accuracy) of every logged step."""
        self.folder = config.run_folder()
        self.checkpoint_path = self.folder / 'checkpoint.pt'
        if config.resume and self.checkpoint_path.is_file():
            self.load_checkpoint()
            self.log(f'resumed from {self.checkpoint_path} at step {self.step}')

    def views(self, indices, seed=0):
        """Return two views of frames ``indices`` (fixed by ``seed``): 2 x B x 3 x H x W."""
        pairs = [self.pairs[(int(index), draw_seed(seed, 2, int(index)))] for index in indices]
        return torch.stack(pairs, dim=1)

    def loss_on(self, views):
        """NT-Xent and accuracy of the current model on views 2 x B x 3 x H x W (no update)."""
        model = self.model
        training = model.training
        saved = {k: v.clone() for k, v in model.state_dict().items()}  # BN statistics
        model.train()  # batch statistics, as in training
        try:
            with torch.no_grad():
                first, second = model(views.flatten(0, 1).to(self.device)).chunk(2)
                loss, accuracy = nt_xent(first, second, self.config.temperature)
        finally:
            model.load_state_dict(saved)
            model.train(training)
        return loss.item(), accuracy.item()

    def train(self, stop=None):
        """
        Run to ``steps``, write the encoder file and return its path.

        :param stop: end at this step instead, with a checkpoint and no encoder file (None
            returned); a later run resumes from it.
        """
        config = self.config
        stop = config.steps if stop is None else min(stop, config.steps)
        loader = DataLoader(self.pairs, batch_sampler=StepBatches(
            len(self.pairs), config.batch_size, config.seed, self.step, stop),
            num_workers=config.workers, pin_memory=self.device.type == 'cuda')
        run_log = RunLog(self.folder)
        self.log(f'pretraining a width-{self.width} ResNet{self.layers} encoder on '
                 f'{len(self.pairs)} frames of {self.data["dataset"]} at '
                 f'{self.height_width[1]}x{self.height_width[0]}, {config.steps} steps of '
                 f'{config.batch_size} frames on {self.device.type}')
        bar = None
        if config.progress:
            from tqdm import tqdm
            bar = tqdm(total=config.steps, initial=self.step, desc='pretrain-encoder',
                       unit='step', dynamic_ncols=True)
        self.model.train()
        start, start_step = time.time(), self.step
        try:
            for batch in loader:
                loss, accuracy = self.train_step(batch)
                self.step += 1
                if bar is not None:
                    bar.update()
                    bar.set_postfix(loss=f'{loss:.3f}', acc=f'{accuracy:.2f}')
                if self.step % config.log_every == 0 or self.step in (start_step + 1,
                                                                      config.steps):
                    self.report(run_log, loss, accuracy, start, start_step, bar)
                if self.step % config.checkpoint_every == 0 and self.step < config.steps:
                    self.save_checkpoint()
        finally:
            if bar is not None:
                bar.close()
            run_log.close()
        self.save_checkpoint()
        return self.write_encoder(config.out) if self.step >= config.steps else None

    def train_step(self, batch):
        """One optimisation step on views B x 2 x 3 x H x W; returns (loss, accuracy)."""
        for group in self.optimiser.param_groups:
            group['lr'] = learning_rate_at(self.step, self.config.steps,
                                           self.config.learning_rate)
        views = batch.to(self.device, non_blocking=True).transpose(0, 1).flatten(0, 1)
        first, second = self.model(views).chunk(2)
        loss, accuracy = nt_xent(first, second, self.config.temperature)
        if not torch.isfinite(loss):
            raise FloatingPointError(f'step {self.step}: the contrastive loss is {loss.item()}: '
                                     'lower --learning-rate or raise --temperature')
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser.step()
        return loss.item(), accuracy.item()

    def report(self, run_log, loss, accuracy, start, start_step, bar):
        """Log the scalars and a progress line."""
        rate = (self.step - start_step) / max(time.time() - start, 1e-9)
        learning_rate = self.optimiser.param_groups[0]['lr']
        self.history.append((self.step, loss, accuracy))
        run_log.scalar(self.step, {'pretrain/loss': loss, 'pretrain/accuracy': accuracy,
                                   'learning_rate': learning_rate})
        line = (f'step {self.step}/{self.config.steps} loss {loss:.4f} accuracy {accuracy:.3f} '
                f'{rate * self.config.batch_size:.1f} frames/s')
        if bar is not None:
            bar.write(line)
        else:
            self.log(line)

    def save_checkpoint(self):
        """Write model, optimiser, step and history to the run folder."""
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.checkpoint_path.with_suffix('.tmp')
        torch.save({'model': self.model.state_dict(), 'optimiser': self.optimiser.state_dict(),
                    'step': self.step, 'history': [list(row) for row in self.history],
                    'config': json.dumps(self.config.to_dict())}, temporary)
        temporary.replace(self.checkpoint_path)

    def load_checkpoint(self):
        """Continue from the run folder's checkpoint (it must be of this architecture)."""
        state = torch.load(self.checkpoint_path, map_location=self.device, weights_only=True)
        try:
            self.model.load_state_dict(state['model'])
        except RuntimeError as error:
            raise ValueError(f'{self.checkpoint_path} is of another encoder '
                             f'({str(error).splitlines()[0]}); use --no-resume or another '
                             '--run-dir') from None
        self.optimiser.load_state_dict(state['optimiser'])
        self.step = int(state['step'])
        self.history = [tuple(row) for row in state['history']]

    def metadata(self):
        """Return the provenance the encoder file's header records (strings)."""
        config = self.config
        last = self.history[-1] if self.history else (self.step, float('nan'), float('nan'))
        return {
            'format': 'torchvision ResNet state dict (no fc); model.pretrained_encoder',
            'producer': 'defeat-ros pretrain-encoder',
            'method': 'SimCLR: two augmented views, global average pooled stride-32 map, '
                      'projection MLP',
            'loss': 'NT-Xent', 'temperature': f'{config.temperature:g}',
            'depth': str(self.layers), 'encoder_width': str(self.width),
            'steps': str(self.step), 'batch_size': str(config.batch_size),
            'resolution': f'{self.height_width[1]}x{self.height_width[0]}',
            'data': json.dumps(self.data, sort_keys=True), 'frames': str(len(self.pairs)),
            'optimiser': config.optimiser, 'learning_rate': f'{config.learning_rate:g}',
            'seed': str(config.seed), 'final_loss': f'{last[1]:.6g}',
            'final_accuracy': f'{last[2]:.6g}',
        }

    def write_encoder(self, path):
        """Write the encoder as a torchvision ResNet state dict with provenance; return path."""
        from safetensors.torch import save_file
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(torchvision_state(self.model.encoder), str(path), metadata=self.metadata())
        self.log(f'encoder written to {path}')
        return path


def run_pretraining(config, log=print):
    """Pretrain as ``config`` (a PretrainConfig) says; return the encoder file's path."""
    return EncoderPretraining(config, log=log).train()
