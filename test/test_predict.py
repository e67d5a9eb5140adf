"""``defeat-ros predict`` on real frames and a real video: depth files you can look at."""

from pathlib import Path

import cv2
from defeat_ros.apps.cli import main
from defeat_ros.camera.predict import depth_millimetres
import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / 'shared' / 'data'
KITTI = SHARED / 'kitti_object_frames' / 'image_2'
VIDEO = SHARED / 'highway_video' / 'solidWhiteRight.mp4'


def shared(path):
    """Skip (with the reason printed) when a shared sample is absent."""
    if not path.exists():
        pytest.skip(f'shared sample {path} not found')
    return path


def test_kitti_frames_give_millimetre_pngs_that_match_the_metres(tmp_path, capsys):
    out = tmp_path / 'out'
    assert main(['predict', str(shared(KITTI)), '--out', str(out), '--formats',
                 'png,npy,preview,features', '--quiet']) == 0
    assert 'predict: 3 images and 0 videos' in capsys.readouterr().out
    for frame in ('000000', '000001', '000002'):
        rgb = cv2.imread(str(KITTI / f'{frame}.png'))
        png = cv2.imread(str(out / f'{frame}_depth.png'), cv2.IMREAD_UNCHANGED)
        metres = np.load(out / f'{frame}_depth.npy')
        assert png.dtype == np.uint16 and png.shape == metres.shape == rgb.shape[:2]
        assert np.isfinite(metres).all() and (metres > 0).all()
        millimetres = np.round(metres.astype(np.float64) * 1000)
        # beyond 65.535 m a uint16 PNG says 0 (unknown), as the writer documents
        np.testing.assert_array_equal(png, np.where(millimetres <= 65535, millimetres, 0))
        preview = cv2.imread(str(out / f'{frame}_preview.png'))
        assert preview.shape == (2 * rgb.shape[0], rgb.shape[1], 3)
        np.testing.assert_array_equal(preview[:rgb.shape[0]], rgb)
        features = cv2.imread(str(out / f'{frame}_features.png'))
        assert features.shape == rgb.shape and features.std() > 1.0


def test_video_frames_and_a_preview_video(tmp_path):
    out = tmp_path / 'out'
    assert main(['predict', str(shared(VIDEO)), '--out', str(out), '--max-frames', '4',
                 '--quiet']) == 0
    assert sorted(p.name for p in out.glob('*_depth.png')) == [
        f'solidWhiteRight_{index:06d}_depth.png' for index in range(4)]
    capture = cv2.VideoCapture(str(out / 'solidWhiteRight_preview.mp4'))
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, first = capture.read()
    capture.release()
    assert ok and frames == 4 and first.shape == (2 * 540, 960, 3)


def test_millimetres_leave_out_what_16_bits_cannot_hold():
    depth = np.array([[0.0012, 1.5, np.nan], [65.535, 65.6, -1.0]], np.float32)
    np.testing.assert_array_equal(depth_millimetres(depth), [[1, 1500, 0], [65535, 0, 0]])


@pytest.mark.parametrize('make, message', [
    (lambda folder: folder / 'missing.png', 'missing.png: no such file or folder'),
    (lambda folder: folder, 'the folder holds no images'),
    (lambda folder: folder / 'notes.txt', 'notes.txt: not an image'),
    (lambda folder: folder / 'broken.png', 'broken.png: cannot decode'),
    (lambda folder: folder / 'broken.mp4', 'broken.mp4: '),
])
def test_bad_inputs_are_one_line_naming_the_file(tmp_path, capsys, make, message):
    folder = tmp_path / 'inputs'
    folder.mkdir()
    for name in ('notes.txt', 'broken.png', 'broken.mp4'):
        (folder / name).write_bytes(b'not an image at all')
    target = make(folder)
    if target == folder:
        for name in ('broken.png', 'broken.mp4'):
            (folder / name).unlink()
    assert main(['predict', str(target), '--out', str(tmp_path / 'out'), '--quiet']) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith('defeat-ros predict: error: ') and message in error
    assert len(error.splitlines()) == 1


def test_help_lists_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(['predict', '--help'])
    text = ' '.join(capsys.readouterr().out.split())
    assert '(default: png,preview)' in text and '(default: auto)' in text
