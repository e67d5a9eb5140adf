"""Build the training dataset a TrainConfig describes."""

from defeat_ros.data.datasets import make_dataset
from defeat_ros.data.sample import SampleConfig


def training_dataset(config):
    """Return the dataset of ``config.data`` at the model's resolution, with augmentation."""
    data = config.data
    sample = SampleConfig(height=config.model.height, width=config.model.width,
                          offsets=list(data.offsets), augment=dict(data.augment),
                          seed=config.seed)
    return make_dataset(data.dataset, dict(data.source), sample)


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
