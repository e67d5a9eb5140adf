"""
Where the files derived from a model directory go: ONNX exports, int8 graphs, TensorRT engines.

Beside the weights when the model directory is writable (a source checkout, a colcon workspace,
a model the user trained). An installed package's share directory can be read-only (a
system-wide install, a read-only root file system on a vehicle); the derived files of such a
model go to a folder of their own under the user's cache,
``$XDG_CACHE_HOME/defeat_ros/<name>-<hash of the model path>`` (``~/.cache`` by default). Every
derived file records the weights it was made from and is checked against them before use, so a
cache entry is never used for other weights. Current ONNX exports installed beside read-only
weights are used in place (``onnx_export.ensure_onnx``).
"""

import hashlib
import os
from pathlib import Path
import tempfile


def derived_dir(model_dir):
    """
    Return the directory for files derived from ``model_dir``.

    :param model_dir: a model directory.
    :return: ``model_dir`` when this process can write to it, else its cache folder (which may
        not exist yet: writers create it).
    """
    model_dir = Path(model_dir)
    if os.access(model_dir, os.W_OK):
        return model_dir
    key = hashlib.sha256(str(model_dir.resolve()).encode()).hexdigest()[:16]
    cache = Path(os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache')
    return cache / 'defeat_ros' / f'{model_dir.name}-{key}'


def write_atomic(path, data):
    """
    Write bytes or text to ``path`` through a temporary file of its own and a rename.

    Readers see the old file or the new one, never a part. The temporary name is unique, so
    two processes writing the same file at once (two nodes building one engine) each rename a
    whole file of their own; the last rename wins.
    """
    path = Path(path)
    mode = 'w' if isinstance(data, str) else 'wb'
    with tempfile.NamedTemporaryFile(mode, dir=path.parent, prefix=path.name + '.',
                                     suffix='.tmp', delete=False) as stream:
        temporary = Path(stream.name)
        try:
            stream.write(data)
        except BaseException:
            stream.close()
            temporary.unlink()
            raise
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
