"""
Run under torchrun with 2 ranks: rank 1 alone trains on NaN images (test_training_configs).

Each rank writes ``<out>/rank<N>.yaml``: how training stopped, whether its parameters changed,
their digest, and rank 0's log lines about skipped steps.
"""

import hashlib
import os
from pathlib import Path
import sys

from defeat_ros.trainer import distributed
from defeat_ros.trainer.trainer import NonFiniteLoss, Trainer
from test_trainer import config, Triplets
import torch
import yaml


def main(out):
    """Train with ``nan_patience`` 2 and record how it ended."""
    rank = int(os.environ['RANK'])
    lines = []
    trainer = Trainer(config(out, nan_patience=2, data={'batch_size': 1, 'workers': 0}),
                      Triplets(poison=rank == 1), log=lines.append)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    try:
        trainer.train()
        stopped = None
    except NonFiniteLoss as error:
        stopped = str(error)
    digest = hashlib.sha256()
    for parameter in trainer.model.parameters():
        digest.update(parameter.detach().numpy().tobytes())
    changed = any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))
    (out / f'rank{rank}.yaml').write_text(yaml.safe_dump({
        'stopped': stopped, 'parameters_changed': changed, 'digest': digest.hexdigest(),
        'log': [line for line in lines if 'skipped' in line]}))
    distributed.teardown()


if __name__ == '__main__':
    main(Path(sys.argv[1]))
