"""
KITTI calibration files: ``key: numbers`` lines, and normalised intrinsics from projections.

Three layouts use this format:

* KITTI raw, ``<date>/calib_cam_to_cam.txt``: ``P_rect_0X`` (3 x 4 projection of rectified
  camera X) and ``S_rect_0X`` (its image size, width then height), plus ``calib_time`` text;
* KITTI odometry, ``sequences/<NN>/calib.txt``: ``P0`` .. ``P3`` and ``Tr``;
* KITTI object, ``calib/<NNNNNN>.txt``: ``P0`` .. ``P3``, ``R0_rect``, ``Tr_velo_to_cam``, ...

Projection matrices hold OpenCV pixel intrinsics (pixel centres at integers) in their left
3 x 3; :func:`projection_intrinsics` normalises them in the corner convention of
:mod:`defeat_ros.geometry`.
"""

from defeat_ros.geometry import normalise_intrinsics
import numpy as np

RAW_CAMERAS = {'l': 2, 'r': 3}
"""Split-file sides and the KITTI colour cameras they name (image_02 left, image_03 right)."""


def read_calib_file(path):
    """
    Parse a KITTI calibration file.

    :param path: the text file.
    :return: dict from key to a float64 array of its numbers, or to the stripped text when the
        value is not numeric (``calib_time``).
    :raises ValueError: naming the file and line for a line without ``key:``.
    """
    values = {}
    with open(path) as stream:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            key, colon, value = line.partition(':')
            if not colon:
                raise ValueError(f'{path}:{number}: expected "key: values", got {line.strip()!r}')
            try:
                values[key.strip()] = np.array([float(v) for v in value.split()])
            except ValueError:
                values[key.strip()] = value.strip()
    return values


def projection(calib, key, path='calibration'):
    """
    Return the 3 x 4 projection matrix ``key`` of parsed calibration ``calib``.

    :param calib: the result of :func:`read_calib_file`.
    :param key: e.g. ``'P_rect_02'`` or ``'P2'``.
    :param path: the file, for messages.
    :return: 3 x 4 float64 array.
    :raises ValueError: when the key is missing or does not hold 12 numbers.
    """
    value = calib.get(key)
    if value is None:
        raise ValueError(f'{path} has no {key}; it has {sorted(calib)}')
    if isinstance(value, str) or value.size != 12:
        raise ValueError(f'{path}: {key} must hold 12 numbers, got {value!r}')
    return value.reshape(3, 4)


def projection_intrinsics(matrix, width, height):
    """
    Return normalised 3 x 3 intrinsics from a KITTI projection matrix.

    :param matrix: 3 x 4 (or 3 x 3) projection with OpenCV pixel intrinsics on the left.
    :param width: image width in pixels.
    :param height: image height in pixels.
    :return: 3 x 3 float32 tensor, normalised, corner convention.
    """
    return normalise_intrinsics(float(matrix[0, 0]), float(matrix[1, 1]), float(matrix[0, 2]),
                                float(matrix[1, 2]), width, height)


def raw_camera_intrinsics(path, camera, image_size=None):
    """
    Return the rectified intrinsics of a KITTI raw camera from ``calib_cam_to_cam.txt``.

    :param path: the ``calib_cam_to_cam.txt`` file.
    :param camera: camera number (2: left colour, 3: right colour).
    :param image_size: (width, height) to normalise by when the file has no ``S_rect_0X``,
        or a function returning it (called only then).
    :return: (3 x 3 float32 normalised intrinsics, (width, height) used).
    :raises ValueError: when the file lacks the projection or any image size.
    """
    calib = read_calib_file(path)
    matrix = projection(calib, f'P_rect_{camera:02d}', path)
    size = calib.get(f'S_rect_{camera:02d}')
    if size is not None and not isinstance(size, str) and size.size == 2:
        width, height = (int(round(v)) for v in size)
    elif image_size is not None:
        width, height = image_size() if callable(image_size) else image_size
    else:
        raise ValueError(f'{path} has no S_rect_{camera:02d} and no image size was given')
    return projection_intrinsics(matrix, width, height), (width, height)
