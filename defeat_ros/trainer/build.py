"""Build the training and validation datasets a TrainConfig describes."""

from defeat_ros.data.datasets import make_dataset
from defeat_ros.data.sample import SampleConfig


def training_dataset(config):
    """Return the dataset of ``config.data`` at the model's resolution, with augmentation."""
    data = config.data
    sample = SampleConfig(height=config.model.height, width=config.model.width,
                          offsets=list(data.offsets), augment=dict(data.augment),
                          seed=config.seed)
    return make_dataset(data.dataset, dict(data.source), sample)


def validation_dataset(config):
    """
    Return the held-out dataset of ``config.validation`` (no augmentation), or None.

    It is ``config.data``'s dataset with the source fields in ``config.validation`` replaced.
    """
    if not config.validation:
        return None
    data = config.data
    sample = SampleConfig(height=config.model.height, width=config.model.width,
                          offsets=list(data.offsets), augment={'enabled': False},
                          seed=config.seed)
    return make_dataset(data.dataset, {**data.source, **config.validation}, sample)


def apply_overrides(values, assignments):
    """
    Apply ``key.sub=value`` strings to a nested config mapping (values parsed as YAML).

    :param values: mapping of a TrainConfig (changed in place and returned).
    :param assignments: list like ['data.batch_size=4', 'data.source.root=/data/kitti'].
    """
    import yaml
    for assignment in assignments:
        key, separator, text = assignment.partition('=')
        if not separator:
            raise ValueError(f'--set needs key=value, got {assignment!r}')
        node = values
        *parents, leaf = key.split('.')
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f'--set {key}: {part} is not a section')
        node[leaf] = yaml.safe_load(text)
    return values
