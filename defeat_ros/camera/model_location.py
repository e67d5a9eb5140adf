"""
Where the node's ``model`` parameter points: a model directory, or (empty) the default model.

The default model is ``models/default`` of the installed package's share folder (colcon), or of
the source tree (``pip install -e``, tests). Nothing here imports rclpy, so offline tools
(``defeat-ros process-bag``) find the same default model as the node.
"""

from pathlib import Path

PACKAGE = 'defeat_ros'


class ConfigurationError(ValueError):
    """The node cannot start with its parameters (the message names the parameter)."""


def default_model_candidates():
    """Return where the default model may live: the installed share folder, then the sources."""
    candidates = []
    try:
        from ament_index_python.packages import get_package_share_directory
        candidates.append(Path(get_package_share_directory(PACKAGE)) / 'models' / 'default')
    except (ImportError, LookupError, OSError):  # no ament prefix (pip install -e, tests)
        pass
    candidates.append(Path(__file__).resolve().parents[2] / 'models' / 'default')
    return candidates


def resolve_model(value):
    """
    Return the model directory named by the ``model`` parameter (empty: the default model).

    :raises ConfigurationError: naming the parameter when there is no model there.
    """
    if value:
        if not (Path(value) / 'config.json').is_file():
            raise ConfigurationError(f'parameter model: {value!r} is not a model directory '
                                     f'(no config.json)')
        return Path(value)
    candidates = default_model_candidates()
    for candidate in candidates:
        if (candidate / 'config.json').is_file():
            return candidate
    raise ConfigurationError(
        'parameter model is empty and no default model is installed (looked in '
        f'{", ".join(map(str, candidates))}); set model:=/path/to/model_dir')


def model_option(model):
    """
    Return the model directory a command line names with --model ('' : the default model).

    :raises FileNotFoundError: naming --model when it is not a model directory, or when no
        default model is installed.
    """
    if model:
        if not (Path(model) / 'config.json').is_file():
            raise FileNotFoundError(f'--model {model}: not a model directory (no config.json)')
        return Path(model)
    try:
        return resolve_model('')
    except ConfigurationError:
        looked = ', '.join(map(str, default_model_candidates()))
        raise FileNotFoundError(f'no default model is installed (looked in {looked}); give a '
                                f'model directory (--model)') from None
