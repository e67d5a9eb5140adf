"""benchmarks/real_frames.py on the shared KITTI frames with the default model."""

from pathlib import Path
import runpy

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRAMES = ROOT.parent / 'shared' / 'data' / 'kitti_object_frames'


def test_table_has_both_baselines_and_the_model_with_plausible_values(capsys):
    if not (FRAMES / 'velodyne' / '000000.bin').is_file():
        pytest.skip(f'shared KITTI object frames not found at {FRAMES}')
    main = runpy.run_path(str(ROOT / 'benchmarks' / 'real_frames.py'))['main']
    model = ROOT / 'models' / 'default'
    assert main([str(model), '--frames', str(FRAMES)]) == 0
    printed = capsys.readouterr().out
    print(printed)
    rows = {cells[0]: [float(value) for value in cells[1:]]
            for cells in (line.strip('| ').split(' | ') for line in printed.splitlines()
                          if line.startswith('| ') and not line.startswith('| depth'))
            if cells[1] != '---'}
    assert list(rows) == ['constant 10 m', 'flat ground (1.65 m, 40 m far)', str(model)]
    for abs_rel, a1, metric, ratio, mirrored, _ in rows.values():
        assert 0 < abs_rel < 2 and 0 < a1 < 1 and 0 < metric < 2 and ratio > 0
        assert 0 < mirrored < 2
    # The baselines ignore the image: on the mirrored frames (ground truth and principal point
    # flipped with the image) they score the same, up to the crop's rounding at the edges.
    for baseline in ('constant 10 m', 'flat ground (1.65 m, 40 m far)'):
        assert rows[baseline][4] == pytest.approx(rows[baseline][0], abs=2e-3)
    better = min(rows['constant 10 m'][0], rows['flat ground (1.65 m, 40 m far)'][0])
    assert rows[str(model)][5] == pytest.approx(better - rows[str(model)][0], abs=2e-3)
    assert f'AbsRel {better:.3f}; goal: AbsRel <= {better - 0.08:.3f}' in printed


def test_a_folder_without_frames_is_an_argument_error(tmp_path, capsys):
    main = runpy.run_path(str(ROOT / 'benchmarks' / 'real_frames.py'))['main']
    with pytest.raises(SystemExit) as stop:
        main([str(ROOT / 'models' / 'default'), '--frames', str(tmp_path)])
    assert stop.value.code == 2
    assert f'no image_2/*.png in {tmp_path}' in capsys.readouterr().err
