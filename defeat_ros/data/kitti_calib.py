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

Pixel intrinsics hold for images of one size, the calibrated size; :func:`calibrated_intrinsics`
finds it and checks an image found on disk against it:

* the calibrated size is ``S_rect_0X`` where the file states it (KITTI raw). KITTI odometry
  (and a raw file without ``S_rect_0X``) states none: the first frame's size is taken, but only
  when the principal point lies near its centre (within :data:`CENTRE_TOLERANCE` of the width
  and of the height; KITTI's rectified cameras are within 0.011 and 0.038), since resizing
  moves the normalised principal point away from the centre (frames resized from 1224 x 370 to
  640 x 192 would put it at 0.945, 0.943) and so does an off-centre crop;
* an image of the calibrated size, or a pure resize of it (aspect ratio within
  :data:`ASPECT_TOLERANCE`), uses the same normalised intrinsics: normalised intrinsics do not
  change when each axis is scaled;
* anything else is refused with a ValueError: a crop (1216 x 352 cut from 1242 x 375), a
  resize that changes the aspect ratio (the two cannot be told apart by size), or a principal
  point outside the calibrated image. A centred crop that keeps the aspect ratio within 1 %
  cannot be detected without a stated size, nor can a small resize of odometry frames that
  keeps the principal point within the tolerance.
"""

from defeat_ros.geometry import normalise_intrinsics
import numpy as np

RAW_CAMERAS = {'l': 2, 'r': 3}
"""Split-file sides and the KITTI colour cameras they name (image_02 left, image_03 right)."""

ASPECT_TOLERANCE = 0.01
"""Largest relative difference of width / height to the calibrated size's for a pure resize."""

CENTRE_TOLERANCE = 0.05
"""Largest distance of the normalised principal point from 0.5 (in x and in y) for an image
to be taken as the calibrated size of a calibration that does not state one."""


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


def raw_camera_projection(path, camera):
    """
    Return the rectified projection of a KITTI raw camera and its stated image size.

    :param path: the ``calib_cam_to_cam.txt`` file.
    :param camera: camera number (2: left colour, 3: right colour).
    :return: (3 x 4 float64 projection ``P_rect_0X``, (width, height) from ``S_rect_0X``, or
        None when the file has no such line).
    :raises ValueError: when the file lacks the projection.
    """
    calib = read_calib_file(path)
    matrix = projection(calib, f'P_rect_{camera:02d}', path)
    size = calib.get(f'S_rect_{camera:02d}')
    if size is None or isinstance(size, str) or size.size != 2:
        return matrix, None
    return matrix, tuple(int(round(v)) for v in size)


def principal_point(matrix, size):
    """Return the principal point of a projection as fractions (x, y) of a (width, height)."""
    return (float(matrix[0, 2]) + 0.5) / size[0], (float(matrix[1, 2]) + 0.5) / size[1]


def _sizes(found, calibrated):
    return f'found {found[0]}x{found[1]}, calibrated {calibrated[0]}x{calibrated[1]}'


def check_image_size(found, calibrated, image, calibration):
    """
    Check that an image on disk is the calibrated image or a pure resize of it.

    :param found: (width, height) of the image on disk.
    :param calibrated: (width, height) the calibration is for.
    :param image: the image file, for the message.
    :param calibration: the calibration file, for the message.
    :raises ValueError: naming both files and sizes when the aspect ratios differ by more
        than :data:`ASPECT_TOLERANCE` (a crop, or a resize changing the aspect ratio).
    """
    found, calibrated = tuple(found), tuple(calibrated)
    if found == calibrated:
        return
    change = (found[0] / found[1]) / (calibrated[0] / calibrated[1]) - 1.0
    if abs(change) > ASPECT_TOLERANCE:
        raise ValueError(
            f'{image}: image size does not match the calibration {calibration} '
            f'({_sizes(found, calibrated)}; aspect ratio {change:+.1%}): a crop or an '
            f'aspect-changing resize would silently get wrong intrinsics. Use the original '
            f'{calibrated[0]}x{calibrated[1]} frames (the loader resizes them itself), or '
            f'resize them keeping the aspect ratio within {ASPECT_TOLERANCE:.0%}')


def calibrated_intrinsics(matrix, stated, found, image, calibration):
    """
    Return normalised intrinsics and the calibrated size, checking an image against them.

    See the module docstring for the rules.

    :param matrix: 3 x 4 (or 3 x 3) projection with OpenCV pixel intrinsics on the left.
    :param stated: (width, height) the calibration states (``S_rect_0X``), or None.
    :param found: (width, height) of an image on disk (the first frame).
    :param image: that image file, for messages.
    :param calibration: the calibration file, for messages.
    :return: (3 x 3 float32 normalised intrinsics, calibrated (width, height)).
    :raises ValueError: when the principal point is outside the stated size, or (no stated
        size) away from the centre of the image found, or when the image is not the
        calibrated size or a pure resize of it.
    """
    found = tuple(int(v) for v in found)
    if stated is not None:
        size = tuple(int(v) for v in stated)
        x, y = principal_point(matrix, size)
        if not (0.0 < x < 1.0 and 0.0 < y < 1.0):
            raise ValueError(
                f'{calibration}: the principal point lies outside the stated image size '
                f'{size[0]}x{size[1]} (at {x:.3f}, {y:.3f} of it; {image} is '
                f'{found[0]}x{found[1]}): the file is inconsistent; fix its image size or '
                'projection')
    else:
        size = found
        x, y = principal_point(matrix, size)
        if max(abs(x - 0.5), abs(y - 0.5)) > CENTRE_TOLERANCE:
            raise ValueError(
                f'{image}: {calibration} states no image size, and its principal point is at '
                f'({x:.3f}, {y:.3f}) of this {found[0]}x{found[1]} frame, not within '
                f'{CENTRE_TOLERANCE} of the centre as in an original frame: the frames look '
                'resized or cropped from the calibrated size, which would silently give wrong '
                'intrinsics. Use the original frames of the sequence (the loader resizes them '
                'itself)')
    check_image_size(found, size, image, calibration)
    return projection_intrinsics(matrix, *size), size
