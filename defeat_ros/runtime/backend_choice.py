"""
The CPU backend ``auto`` measured fastest, remembered across starts.

Timing every candidate costs seconds at start-up (each one loads the model, and ONNX Runtime
sessions are built); the choice depends only on the model's weights, the machine and the
libraries, so it is stored in ``auto_backend.json`` in the model's derived-files directory
(:func:`~defeat_ros.runtime.derived_files.derived_dir`) under a key of exactly those, and a
later start with the same key opens the remembered backend alone. Any change (new weights,
another CPU, other library versions, int8 graphs added or removed, another thread count)
misses the key and measures again.
"""

import hashlib
from importlib import metadata
import json
import logging
import os
from pathlib import Path

from defeat_ros.nets.model_dir import WEIGHTS_FILE
from defeat_ros.runtime.derived_files import derived_dir, write_atomic

LOG = logging.getLogger(__name__)
FILE = 'auto_backend.json'


class BackendChoice:
    """The remembered choice for one model, candidate set and thread count on this machine."""

    def __init__(self, model_dir, candidates, threads):
        """
        Key the choice for ``model_dir``'s weights, this machine and these libraries.

        :param candidates: name -> make_backend options, as ``backends.cpu_candidates``.
        :param threads: ONNX Runtime threads (0: its default).
        """
        import onnxruntime
        from defeat_ros.runtime.backends import cpu_model
        weights = Path(model_dir) / WEIGHTS_FILE
        stat = weights.stat()
        identity = {'weights': [str(weights.resolve()), stat.st_size, stat.st_mtime_ns],
                    'cpu': cpu_model(), 'cores': os.cpu_count(), 'threads': threads,
                    'torch': installed_version('torch'), 'onnxruntime': onnxruntime.__version__,
                    'openvino': installed_version('openvino'), 'candidates': candidates}
        self.key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        self.candidates = candidates
        self.path = derived_dir(model_dir) / FILE

    def load(self):
        """Return the remembered candidate's name; None when nothing (readable) is stored."""
        try:
            entry = json.loads(self.path.read_text()).get(self.key)
        except (OSError, ValueError, AttributeError):
            return None
        name = entry.get('backend') if isinstance(entry, dict) else None
        return name if name in self.candidates else None

    def store(self, name, timings):
        """Remember ``name`` (with the timings that chose it); a failure to write is logged."""
        try:
            stored = json.loads(self.path.read_text()) if self.path.is_file() else {}
            if not isinstance(stored, dict):
                stored = {}
        except (OSError, ValueError):
            stored = {}
        stored[self.key] = {'backend': name, 'seconds_per_step': timings}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(stored, indent=2, sort_keys=True))
        except OSError as error:
            LOG.warning('could not remember the CPU backend choice in %s: %s', self.path, error)


def installed_version(package):
    """Return the installed version of ``package`` without importing it; None if absent."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
