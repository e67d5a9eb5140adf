"""
The TensorRT engine cache of a model directory, ``<model_dir>/engines/`` (see derived_files).

A serialized engine only runs on the device and TensorRT version it was built with, and only
answers for the ONNX file, precision, DLA core and int8 calibration it was built from. Each
cache entry is therefore ``<graph>-<key>.engine`` plus a JSON sidecar ``<graph>-<key>.json``
that records those fields (an :class:`EngineSpec`) and the engine's SHA-256; an engine is
loaded only when its sidecar matches exactly.

The device is more than its name and compute capability: every Jetson Orin module (AGX, NX,
Nano) reports 'Orin' and 8.7, but an engine tuned for one is not for another. Its identity
(:func:`device_identity`) adds the module's model from the device tree on a Jetson, and the
multiprocessor count and memory everywhere.

Timing caches are kept per platform, precision and DLA core; int8 calibration caches per graph,
ONNX file, platform and calibration frames, and new frames replace the old cache. Everything
here is plain Python: the GPU and TensorRT identity come in as arguments (a :class:`Platform`),
so this module imports neither TensorRT nor CUDA.
"""

from dataclasses import asdict, dataclass, fields
import datetime
import hashlib
import json
import logging
from pathlib import Path
from typing import NamedTuple, Optional

from defeat_ros.runtime.calibration import frames_digest
from defeat_ros.runtime.derived_files import derived_dir, write_atomic
from defeat_ros.runtime.onnx_export import file_digest

LOG = logging.getLogger(__name__)
ENGINE_DIR = 'engines'
SIDECAR_FORMAT = 'defeat_ros.engine/2'
DEVICE_TREE_MODEL = Path('/proc/device-tree/model')
"""Where a Jetson names its module, e.g. 'NVIDIA Jetson AGX Orin Developer Kit'."""


class Platform(NamedTuple):
    """The device and TensorRT an engine is built for, as plain strings."""

    gpu_name: str
    """``torch.cuda.get_device_name()``, e.g. 'Orin' or 'NVIDIA GeForce RTX 4090'."""
    compute_capability: str
    """'major.minor', e.g. '8.7'."""
    device: str
    """:func:`device_identity`, what tells devices of one name and capability apart."""
    tensorrt_version: str
    """``tensorrt.__version__``, e.g. '10.3.0'."""


def device_identity(multiprocessors, memory_bytes, module_model=''):
    """
    Describe a CUDA device beyond its name, e.g. 'NVIDIA Jetson Orin Nano; 8 SMs; 7620 MiB'.

    :param multiprocessors: its streaming multiprocessor count.
    :param memory_bytes: its total memory (shared with the CPU on a Jetson).
    :param module_model: the Jetson module's model (:func:`module_model`), '' elsewhere.
    """
    parts = [module_model] if module_model else []
    return '; '.join(parts + [f'{multiprocessors} SMs', f'{memory_bytes >> 20} MiB'])


def module_model(path=DEVICE_TREE_MODEL):
    """Return the device tree's model string (a Jetson module), or '' where there is none."""
    try:
        return Path(path).read_bytes().rstrip(b'\0').decode(errors='replace').strip()
    except OSError:
        return ''


def digest16(*values):
    """First 16 hex digits of the SHA-256 of ``values`` (as strings), stable across versions."""
    return hashlib.sha256(json.dumps([str(v) for v in values]).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class EngineSpec:
    """What a built engine depends on; a cached engine is used only where all fields match."""

    gpu_name: str
    compute_capability: str
    device: str
    tensorrt_version: str
    onnx_sha256: str
    precision: str
    dla_core: Optional[int] = None
    """The DLA core the engine runs on (Jetson), None for the GPU only."""
    calibration: Optional[str] = None
    """int8: the digest of the frames its scales were calibrated on (:func:`frames_digest`)."""

    @property
    def key(self):
        """
        Name the engine after every field, e.g. ``'fp16-3f9a0c2e7b1d4a65'``.

        The precision stays readable; all fields are hashed (:func:`digest16`).
        """
        return f'{self.precision}-{digest16(*asdict(self).values())}'

    def differences(self, recorded):
        """
        Describe the fields where ``recorded`` (what an entry was built for) differs from self.

        :return: one 'field: built for X, needed Y' string per differing field.
        """
        return [f'{f.name}: built for {getattr(recorded, f.name)!r}, '
                f'needed {getattr(self, f.name)!r}'
                for f in fields(self) if getattr(recorded, f.name) != getattr(self, f.name)]


def engine_spec(onnx_file, precision, platform, dla_core=None, calibration=None):
    """Describe an engine built now on ``platform`` from ``onnx_file`` (hashes the file)."""
    return EngineSpec(*platform, onnx_sha256=file_digest(onnx_file), precision=precision,
                      dla_core=dla_core, calibration=calibration)


def engine_dir(model_dir):
    """Return the engine cache directory of a model directory (see derived_files)."""
    return derived_dir(model_dir) / ENGINE_DIR


def engine_file(model_dir, graph, spec):
    """Where the engine of ``graph`` built for ``spec`` lives."""
    return engine_dir(model_dir) / f'{graph}-{spec.key}.engine'


def sidecar_file(engine_path):
    """Return the JSON sidecar path that describes an engine file."""
    return Path(engine_path).with_suffix('.json')


def timing_cache_file(model_dir, platform, precision, dla_core=None):
    """
    Return the timing cache of builds for ``platform`` at ``precision`` on ``dla_core``.

    Timings depend on the device and TensorRT version, and tactics differ between precisions
    and between the GPU and a DLA, so each setting keeps a cache of its own.
    """
    device = 'gpu' if dla_core is None else f'dla{dla_core}'
    return engine_dir(model_dir) / f'timing-{precision}-{device}-{digest16(*platform)}.cache'


def calibration_cache(model_dir, graph, onnx_sha256, platform, frames=None):
    """
    Choose the int8 calibration cache of a build of ``graph``, named for what it depends on.

    ``<graph>-<hash of the ONNX file and platform>-<frames digest>.calibration``. With frames,
    the cache of exactly these frames (which exists when they calibrated this graph before);
    without, the newest cache for this ONNX file and platform.

    :param frames: the calibration frames given now, or None.
    :return: (cache path, digest of the frames its scales come from), or (None, None) without
        frames or cache.
    """
    prefix = f'{graph}-{digest16(onnx_sha256, *platform)}-'
    if frames is not None:
        digest = frames_digest(frames)
        return engine_dir(model_dir) / f'{prefix}{digest}.calibration', digest
    caches = sorted(engine_dir(model_dir).glob(f'{prefix}*.calibration'),
                    key=lambda path: path.stat().st_mtime)
    if not caches:
        return None, None
    return caches[-1], caches[-1].stem[len(prefix):]


def remove_other_calibrations(cache):
    """Delete the caches ``cache`` (new frames' scales) replaces: same graph, ONNX, platform."""
    cache = Path(cache)
    prefix = cache.stem[:cache.stem.rindex('-') + 1]
    for other in cache.parent.glob(f'{prefix}*.calibration'):
        if other != cache:
            LOG.info('removing the calibration cache %s: new frames replaced it', other)
            other.unlink(missing_ok=True)


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
