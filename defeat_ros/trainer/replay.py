"""
Replay: fine-tuning that keeps training on the source model's own training data.

Self-supervised fine-tuning pulls a model's depth towards what the photometric loss prefers. For
a model trained with exact depth (the synthetic world's) that is worse than what it learnt: on
test_finetune's 8 s drive the held-out loss fell while held-out AbsRel rose from 0.136 to 0.187.
Replay mixes samples of the data the source model was trained on (rebuilt from the
``train_config`` its provenance records) into every epoch, trained with the recorded objective,
depth supervision included, while the user's frames adapt the model: what it learnt is
rehearsed instead of forgotten. The user's frames are never depth-supervised: a bag's depth
topic only measures the result.
"""

from dataclasses import replace

from defeat_ros.trainer.build import training_dataset
from defeat_ros.trainer.config import TrainConfig
import torch
from torch.utils.data import Dataset


class ReplayMixture(Dataset):
    """
    The user's samples followed by the replayed ones, with one set of keys.

    Every sample carries ``depth`` 1 x H x W: zeros (unknown: no supervision) for the user's
    samples, the replayed sample's exact depth where its data has it (zeros otherwise).

    :param own: the user's training dataset (N samples).
    :param replayed: the source model's training dataset (R samples) at the same resolution
        and offsets.
    """

    def __init__(self, own, replayed):
        """Keep both datasets; the first N indices are the user's."""
        self.own, self.replayed = own, replayed
        self.has_depth = bool(getattr(replayed, 'has_depth', False))
        self.depth_sets_scale = False
        """The replayed depth is another camera's, not the user's: it makes no model metric."""
        self.speed_sources = sorted({*getattr(own, 'speed_sources', []),
                                     *getattr(replayed, 'speed_sources', [])})

    def __len__(self):
        """Return N + R."""
        return len(self.own) + len(self.replayed)

    def __getitem__(self, index):
        """Return the user's sample ``index`` (< N) or replayed sample ``index - N``."""
        replaying = index >= len(self.own)
        sample = dict(self.replayed[index - len(self.own)] if replaying else self.own[index])
        if not replaying or 'depth' not in sample:
            sample['depth'] = torch.zeros(1, *sample['target'].shape[-2:])
        return sample

    def set_epoch(self, epoch):
        """Pass the epoch on to both datasets (their augmentation draws)."""
        for dataset in (self.own, self.replayed):
            dataset.set_epoch(epoch)


def replay_dataset(source_config, height, width, offsets, seed):
    """
    Rebuild the training data a model recorded, at another resolution.

    :param source_config: the model's ModelConfig (``read_config``); its provenance's
        ``train_config`` names the data.
    :param height: sample height in pixels; width: sample width.
    :param offsets: source frame offsets (those fine-tuning uses).
    :param seed: augmentation seed.
    :return: the dataset (with the recorded augmentation).
    :raises ValueError: when the model records no training data, or it cannot be read here
        (e.g. a KITTI root that does not exist on this machine).
    """
    recorded = source_config.provenance.get('train_config')
    if not recorded:
        raise ValueError('the source model records no training data')
    config = TrainConfig.from_dict(recorded)
    config = replace(config, model=replace(config.model, height=height, width=width),
                     data=replace(config.data, offsets=list(offsets)), seed=seed)
    try:
        return training_dataset(config)
    except (OSError, ValueError) as error:
        raise ValueError(f'its training data ({config.data.dataset}) cannot be read here: '
                         f'{error}') from None


def mixture_weights(own_weights, replayed, fraction):
    """
    Return sampling weights that draw replayed samples ``fraction`` of the time.

    :param own_weights: N relative weights of the user's samples.
    :param replayed: R, the number of replayed samples.
    :param fraction: the share of draws that replay, in (0, 1).
    :return: N + R float64 weights summing to 1.
    """
    own = torch.as_tensor(own_weights, dtype=torch.float64)
    own = own / own.sum() * (1 - fraction)
    return torch.cat([own, torch.full((replayed,), fraction / replayed, dtype=torch.float64)])
