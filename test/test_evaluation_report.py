"""Evaluation reports: JSON, markdown and PNG figures drawn without matplotlib."""

import json

import cv2
from defeat_ros.evaluation.report import (depth_figure, error_map, markdown_report,
                                          trajectory_figure, write_report)
import numpy as np
import torch

RESULTS = {
    'model': 'models/tiny',
    'data': 'synthetic street world',
    'conditions': {
        'day': {
            'depth': {'abs_rel': 0.1, 'sq_rel': 0.8, 'rmse': 4.5, 'rmse_log': 0.19, 'a1': 0.88,
                      'a2': 0.96, 'a3': 0.98, 'images': 10, 'ratio_median': 30.0,
                      'ratio_std': 0.08},
            'pose': {'snippet': {'ate_mean': 0.0171, 'ate_std': 0.0082, 'snippets': 6},
                     'trajectory': {'ate_rmse': 0.5, 'rpe_trans_rmse': 0.05,
                                    'rpe_rot_rmse_deg': 0.2, 'scale': 12.0, 'frames': 10}},
            'features': {'positive_distance': 0.2, 'global_negative_distance': 1.1,
                         'local_negative_distance': 0.9, 'global_auc': 0.97,
                         'local_auc': 0.9, 'anchors': 500},
        },
        'night': {'depth': {'abs_rel': 0.2, 'sq_rel': float('nan'), 'images': 10}},
    },
}


def test_markdown_has_a_table_per_section_and_a_row_per_condition():
    text = markdown_report(RESULTS)
    assert '### Depth' in text and '### Pose' in text and '### Features' in text
    assert '| day | 0.100 | 0.800 | 4.500 |' in text
    assert '| night | 0.200 | - |' in text  # NaN and missing values print as '-'
    assert '0.0171 +- 0.0082' in text
    assert '| day | 0.200 | 1.100 | 0.900 | 0.970 | 0.900 | 500 |' in text


def test_error_map_colours_valid_pixels_and_blanks_the_rest():
    gt = torch.tensor([[10.0, 10.0, 0.0]])
    coloured = error_map(torch.tensor([[10.0, 20.0, 5.0]]), gt, max_error=0.5)
    assert coloured.shape == (1, 3, 3) and coloured.dtype == np.uint8
    assert (coloured[0, 2] == 0).all()  # no ground truth: black
    assert coloured[0, 0, 2] > coloured[0, 0, 0]  # no error: the blue end of turbo
    assert coloured[0, 1, 0] > coloured[0, 1, 2]  # error 1.0 > 0.5: the red end


def test_depth_figure_stacks_four_tiles():
    height, width = 48, 64
    gt = torch.full((height, width), 10.0)
    gt[::3] = 0.0  # sparse, as LiDAR
    figure = depth_figure(torch.rand(3, height, width), gt, torch.full((height, width), 2.0))
    assert figure.shape == (4 * height, width, 3) and figure.dtype == np.uint8
    assert figure[height:].any()


def test_trajectory_figure_draws_lines_with_opencv():
    z = np.linspace(0.0, 30.0, 40)
    truth = np.stack([np.sin(z / 10.0), np.zeros_like(z), z], axis=1)
    figure = trajectory_figure([('ground truth', truth), ('prediction', truth * 1.1)],
                               size=300, title='test')
    assert figure.shape == (300, 300, 3)
    green = (figure[:, :, 1] > 150) & (figure[:, :, 0] < 120)
    red = (figure[:, :, 0] > 150) & (figure[:, :, 1] < 120)
    assert green.sum() > 100 and red.sum() > 100


def test_report_files_are_written_and_readable(tmp_path):
    figure = np.zeros((20, 30, 3), np.uint8)
    figure[..., 0] = 255  # red in RGB
    written = write_report(RESULTS, tmp_path / 'out', {'depth_day': figure})
    data = json.loads((tmp_path / 'out' / 'results.json').read_text())
    assert set(data) == {'model', 'data', 'conditions'}
    assert set(data['conditions']['day']) == {'depth', 'pose', 'features'}
    assert data['conditions']['night']['depth']['sq_rel'] is None  # NaN -> null
    assert (tmp_path / 'out' / 'results.md').read_text().startswith('## Evaluation')
    png = cv2.imread(str(written['figures'][0]))
    assert png.shape == (20, 30, 3) and (png[..., 2] == 255).all()  # BGR on disk
