"""The image encodings the docs list are exactly those the decoder reads."""

from pathlib import Path
import re

from defeat_ros.messages.decode import image_to_array
from defeat_ros.messages.image_encoding import IMAGE_ENCODINGS, to_rgb, UnsupportedEncoding
import numpy as np
import pytest

DOCS = Path(__file__).resolve().parents[1] / 'docs'


class Image:
    """The fields of a sensor_msgs/Image."""

    def __init__(self, encoding, height=2, width=2):
        bytes_per_pixel = {'rgb': 3, 'bgr': 3, 'rgba': 4, 'bgra': 4, 'uyvy': 2, 'yuyv': 2,
                           'yuv422': 2, 'yuv422_yuy2': 2}.get(
            re.sub(r'(8|16)$', '', encoding), 1) * (2 if encoding.endswith('16') else 1)
        rows = {'nv12': 1.5, 'nv21': 1.5, 'nv24': 3}.get(encoding, 1)
        self.encoding, self.height, self.width = encoding, height, width
        self.step, self.is_bigendian = width * bytes_per_pixel, 0
        self.data = np.zeros(int(height * rows) * self.step, np.uint8)


def test_troubleshooting_lists_every_encoding_the_decoder_reads():
    text = (DOCS / 'troubleshooting.md').read_text()
    section = text[text.index('## Image encodings'):]
    section = section[:section.index('\n\n', section.index('\n\n') + 2)]
    documented = set(re.findall(r'`([a-z]+[0-9]*(?:_[a-z]+[0-9]+)?)`', section))
    assert documented == set(IMAGE_ENCODINGS)


@pytest.mark.parametrize('encoding', IMAGE_ENCODINGS)
def test_every_listed_encoding_decodes(encoding):
    pixels, base = image_to_array(Image(encoding))
    assert pixels.dtype == np.uint8 and pixels.shape[:2] == (2, 2)
    assert to_rgb(pixels, base).shape == (2, 2, 3)


@pytest.mark.parametrize('encoding', ['yuv420', 'nv42', 'uyvy16', '32FC1', '16UC1', 'rgb32'])
def test_an_unlisted_encoding_is_refused_naming_the_supported_ones(encoding):
    with pytest.raises(UnsupportedEncoding, match='supported: rgb8, .*, bayer_grbg16'):
        image_to_array(Image(encoding))
