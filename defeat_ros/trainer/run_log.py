"""Training logs: TensorBoard when installed, always a JSON-lines file of scalars."""

import json
from pathlib import Path


class RunLog:
    """Scalars and images of a run under ``<out>/logs``."""

    def __init__(self, out, enabled=True):
        """Open the logs (a no-op on processes other than rank 0: ``enabled=False``)."""
        self.enabled = enabled
        self.writer = None
        if not enabled:
            return
        self.folder = Path(out) / 'logs'
        self.folder.mkdir(parents=True, exist_ok=True)
        self.scalars = open(self.folder / 'scalars.jsonl', 'a')
        try:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(self.folder))
        except ImportError:  # tensorboard is optional; scalars.jsonl always has the numbers
            self.writer = None

    def scalar(self, step, values):
        """Log a dict of floats at ``step``."""
        if not self.enabled:
            return
        self.scalars.write(json.dumps({'step': step, **values}) + '\n')
        self.scalars.flush()
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(name, value, step)

    def image(self, step, name, array):
        """Log an H x W x 3 uint8 picture (TensorBoard only)."""
        if self.enabled and self.writer is not None:
            self.writer.add_image(name, array, step, dataformats='HWC')

    def close(self):
        """Flush and close the files."""
        if self.enabled:
            self.scalars.close()
            if self.writer is not None:
                self.writer.close()
