"""
The TensorRT engine cache of a model directory, ``<model_dir>/engines/`` (see derived_files).

A serialized engine only runs on the GPU model and TensorRT version it was built with, and only
answers for the ONNX file and precision it was built from. Each cache entry is therefore
``<graph>-<key>.engine`` plus a JSON sidecar ``<graph>-<key>.json`` that records those fields
(an :class:`EngineSpec`) and the engine's SHA-256; an engine is loaded only when its sidecar
matches exactly. Everything here is plain Python: the GPU and TensorRT identity come in as
arguments (a :class:`Platform`), so this module imports neither TensorRT nor CUDA.
"""

from dataclasses import asdict, dataclass, fields
import datetime
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import NamedTuple, Optional

from defeat_ros.runtime.derived_files import derived_dir
from defeat_ros.runtime.onnx_export import file_digest

LOG = logging.getLogger(__name__)
ENGINE_DIR = 'engines'
SIDECAR_FORMAT = 'defeat_ros.engine/1'


class Platform(NamedTuple):
    """The GPU and TensorRT an engine is built for, as plain strings."""

    gpu_name: str
    """``torch.cuda.get_device_name()``, e.g. 'Orin' or 'NVIDIA GeForce RTX 4090'."""
    compute_capability: str
    """'major.minor', e.g. '8.7'."""
    tensorrt_version: str
    """``tensorrt.__version__``, e.g. '10.3.0'."""


def engine_key(gpu_name, compute_capability, tensorrt_version, onnx_sha256, precision,
               dla_core=None):
    """
    Name an engine after everything it depends on, e.g. ``'fp16-3f9a0c2e7b1d4a65'``.

    The precision stays readable; the other fields are hashed (first 16 hex digits of SHA-256).

    :param dla_core: the DLA core the engine runs on (Jetson), None for the GPU only.
    :return: a short string, the same for the same fields in every process and version.
    """
    fields_ = [gpu_name, compute_capability, tensorrt_version, onnx_sha256, precision]
    if dla_core is not None:
        fields_.append(f'dla{dla_core}')
    digest = hashlib.sha256(json.dumps([str(f) for f in fields_]).encode()).hexdigest()
    return f'{precision}-{digest[:16]}'


@dataclass(frozen=True)
class EngineSpec:
    """What a built engine depends on; a cached engine is used only where all fields match."""

    gpu_name: str
    compute_capability: str
    tensorrt_version: str
    onnx_sha256: str
    precision: str
    dla_core: Optional[int] = None

    @property
    def key(self):
        """Return the cache key of this spec (:func:`engine_key`)."""
        return engine_key(**asdict(self))

    def differences(self, recorded):
        """
        Describe the fields where ``recorded`` (what an entry was built for) differs from self.

        :return: one 'field: built for X, needed Y' string per differing field.
        """
        return [f'{f.name}: built for {getattr(recorded, f.name)!r}, '
                f'needed {getattr(self, f.name)!r}'
                for f in fields(self) if getattr(recorded, f.name) != getattr(self, f.name)]


def engine_spec(onnx_file, precision, platform, dla_core=None):
    """Describe an engine built now on ``platform`` from ``onnx_file`` (hashes the file)."""
    return EngineSpec(*platform, onnx_sha256=file_digest(onnx_file), precision=precision,
                      dla_core=dla_core)


def engine_dir(model_dir):
    """Return the engine cache directory of a model directory (see derived_files)."""
    return derived_dir(model_dir) / ENGINE_DIR


def engine_file(model_dir, graph, spec):
    """Where the engine of ``graph`` built for ``spec`` lives."""
    return engine_dir(model_dir) / f'{graph}-{spec.key}.engine'


def sidecar_file(engine_path):
    """Return the JSON sidecar path that describes an engine file."""
    return Path(engine_path).with_suffix('.json')


def timing_cache_file(model_dir, platform):
    """Return the timing cache path for ``platform`` (timings depend on GPU and version)."""
    digest = hashlib.sha256(json.dumps(list(platform)).encode()).hexdigest()
    return engine_dir(model_dir) / f'timing-{digest[:16]}.cache'


def calibration_cache_file(model_dir, graph, onnx_sha256):
    """Return the int8 calibration cache path of ``graph`` (depends on the ONNX, not the GPU)."""
    return engine_dir(model_dir) / f'{graph}-{onnx_sha256[:16]}.calibration'


def read_sidecar(path):
    """
    Read a sidecar.

    :return: (EngineSpec recorded in it, SHA-256 of the engine file).
    :raise ValueError: naming the file when it is missing, not JSON or lacks a field.
    """
    try:
        data = json.loads(Path(path).read_text())
        if data.get('format') != SIDECAR_FORMAT:
            raise ValueError(f'format {data.get("format")!r}, expected {SIDECAR_FORMAT!r}')
        spec = EngineSpec(**{f.name: data[f.name] for f in fields(EngineSpec)})
        return spec, str(data['engine_sha256'])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f'sidecar {path} is unreadable or corrupt ({error!r})') from error


def sidecar_problem(sidecar, spec):
    """Say why the entry of ``sidecar`` cannot serve ``spec``; '' when its fields match."""
    try:
        recorded, _ = read_sidecar(sidecar)
    except ValueError as error:
        return str(error)
    return '; '.join(spec.differences(recorded))


def read_engine(engine_path):
    """
    Read an engine file and check it against the digest its sidecar recorded.

    :return: (engine bytes, '') or (None, why the file cannot be used).
    """
    try:
        _, expected = read_sidecar(sidecar_file(engine_path))
        data = Path(engine_path).read_bytes()
    except (OSError, ValueError) as error:
        return None, f'engine file unreadable ({error})'
    if hashlib.sha256(data).hexdigest() != expected:
        return None, 'engine file does not match the digest in its sidecar (truncated or altered)'
    return data, ''


def cached_engine(model_dir, graph, spec):
    """
    Look up the engine of ``graph`` built for exactly ``spec``.

    Every reason a cache entry is not used is logged: a sidecar for another GPU, TensorRT
    version, ONNX file or precision, a corrupt sidecar, a missing or altered engine file.

    :return: the serialized engine (bytes), or None when one has to be built.
    """
    path = engine_file(model_dir, graph, spec)
    if not sidecar_file(path).is_file():
        report_other_entries(model_dir, graph, spec)
        return None
    problem = sidecar_problem(sidecar_file(path), spec)
    data = None
    if not problem:
        data, problem = read_engine(path)
    if problem:
        LOG.warning('not loading the cached TensorRT engine %s: %s; rebuilding it', path, problem)
        return None
    LOG.info('loading the cached TensorRT engine %s', path)
    return data


def report_other_entries(model_dir, graph, spec):
    """Log why each cached engine of ``graph`` (built for something else) is not used."""
    others = sorted(engine_dir(model_dir).glob(f'{graph}-*.json'))
    for sidecar in others:
        problem = sidecar_problem(sidecar, spec) or 'named for another key'
        LOG.warning('not loading the cached TensorRT engine %s: %s; building one for %s',
                    sidecar.with_suffix('.engine'), problem, spec.gpu_name)
    if not others:
        LOG.info('no cached TensorRT engine for %s in %s; building one', graph,
                 engine_dir(model_dir))


def store_engine(model_dir, graph, spec, engine):
    """
    Cache a serialized engine with its sidecar.

    Files are replaced atomically and the sidecar is written last, so an interrupted write
    never leaves an entry that would load. A read-only model directory is not an error: the
    engine is then simply built again next time.

    :param engine: the serialized engine (bytes or any buffer).
    :return: the engine path, or None when the cache is not writable.
    """
    path = engine_file(model_dir, graph, spec)
    data = bytes(engine)
    sidecar = {'format': SIDECAR_FORMAT, 'graph': graph, **asdict(spec),
               'engine_sha256': hashlib.sha256(data).hexdigest(),
               'built': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
        write_atomic(sidecar_file(path), json.dumps(sidecar, indent=2, sort_keys=True) + '\n')
    except OSError as error:
        LOG.warning('could not cache the TensorRT engine as %s (%s); it will be built again '
                    'next time', path, error)
        return None
    return path


def write_atomic(path, data):
    """Write bytes or text to ``path`` through a temporary file and a rename."""
    path = Path(path)
    temporary = path.with_name(path.name + '.tmp')
    if isinstance(data, str):
        temporary.write_text(data)
    else:
        temporary.write_bytes(data)
    os.replace(temporary, path)
