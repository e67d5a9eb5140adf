"""
The intrinsics of one camera: the latest usable CameraInfo's, else configured fallback ones.

The one camera_info policy of ``defeat_node``, ``defeat-ros process-bag`` and the demo:
- the latest usable CameraInfo wins; its intrinsics are rescaled to each frame's size, so a
  resized camera keeps the right intrinsics;
- a CameraInfo without intrinsics (P and K without positive focal lengths: an uncalibrated
  camera) is reported and ignored: the intrinsics in use stay;
- before any usable CameraInfo the fallback intrinsics serve, announced once (not when there
  is no camera_info source at all, where the fallback is the only intrinsics);
- lens distortion is reported once and ignored: the images are taken to be rectified.

Messages are read by duck typing, so rclpy and rosbags CameraInfo messages both work. Nothing
here imports rclpy.
"""

from defeat_ros.messages.decode import camera_info_intrinsics
import numpy as np


def camera_info_problem(message):
    """Return why a CameraInfo cannot give intrinsics, or '' when it can."""
    try:
        camera_info_intrinsics(message, 1, 1)
    except ValueError as error:
        return str(error)
    return ''


class CameraInfoCache:
    """The camera_info of one camera and its fallback intrinsics (policy in the module doc)."""

    def __init__(self, fallback=None, topic='camera_info', fallback_name='the fallback intrinsics',
                 warn=None):
        """
        Start without a CameraInfo.

        :param fallback: 3 x 3 normalised intrinsics for frames before the first usable
            CameraInfo, or None when there are none (:meth:`intrinsics` then raises).
        :param topic: the camera_info topic, named in warnings; None when there is none.
        :param fallback_name: what the fallback is, for the warnings ('the fx, fy, cx, cy
            parameters').
        :param warn: called with (kind, text) for each warning; kinds are 'camera_info' (an
            unusable CameraInfo), 'distortion' and 'intrinsics' (the fallback is in use).
        """
        self.fallback = fallback
        self.topic, self.fallback_name = topic, fallback_name
        self.warn = warn if warn is not None else (lambda kind, text: None)
        self.latest = None
        """The latest usable CameraInfo, or None before the first one."""
        self.warned = set()

    def update(self, message):
        """Cache a usable CameraInfo; report and ignore one without intrinsics. Return if used."""
        problem = camera_info_problem(message)
        if problem:
            self.warn('camera_info', f'{self.topic}: {problem}; it is ignored, the intrinsics '
                      f'in use stay')
            return False
        if np.any(np.asarray(message.d) != 0.0):
            self.warn_once('distortion', f'{self.topic} has lens distortion, which is ignored: '
                           f"the images are taken to be rectified (image_proc's image_rect)")
        self.latest = message
        return True

    def intrinsics(self, size):
        """
        Return the 3 x 3 normalised intrinsics of a frame of ``size`` (height, width).

        :raises ValueError: before any usable CameraInfo when there is no fallback.
        """
        if self.latest is not None:
            return camera_info_intrinsics(self.latest, *size)
        if self.fallback is None:
            raise ValueError(f'no usable camera_info on {self.topic} yet and no fallback '
                             f'intrinsics')
        if self.topic is not None:
            self.warn_once('intrinsics', f'no usable camera_info on {self.topic} yet; using '
                           f'{self.fallback_name} until one arrives')
        return self.fallback

    def source(self):
        """Say where the intrinsics of the next frame come from, for diagnostics."""
        if self.latest is not None:
            return f'camera_info ({self.topic})'
        if self.fallback is not None:
            return f'{self.fallback_name} (no usable camera_info yet)'
        return 'none yet (no usable camera_info, no fallback)'

    def warn_once(self, kind, text):
        """Report a warning of ``kind`` the first time only."""
        if kind not in self.warned:
            self.warned.add(kind)
            self.warn(kind, text)
