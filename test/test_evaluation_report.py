"""Evaluation reports: JSON, markdown and PNG figures drawn without matplotlib."""

import json
from pathlib import Path

import cv2
from defeat_ros.evaluation.report import (alignment_label, BACKGROUND, BAR_HEIGHT,
                                          contact_sheet, depth_bar, depth_figure,
                                          display_width, error_map, GAP, markdown_report,
                                          metres, published_tables, RAMP_HEIGHT,
                                          reference_tables,
                                          spread_indices, TEXT_COLOUR,
                                          TITLE_HEIGHT, trajectory_comparison,
                                          trajectory_figure, write_report)
from defeat_ros.visualisation import colourise_depth
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
    assert 'Published' not in text  # no condition names a benchmark


def test_published_numbers_sit_above_the_model_on_its_benchmarks():
    day = {**RESULTS['conditions']['day'], 'benchmarks': ['kitti_eigen', 'kitti_features']}
    tables = reference_tables('kitti', day)
    assert len(tables) == 2
    depth, features = (table.splitlines() for table in tables)
    assert depth[0].startswith('### Published: KITTI Eigen test split')
    assert depth[2].startswith('| method | AbsRel |')
    assert depth[4].startswith('| SfMLearner (CVPR 2017) [SfMLearner, Table 1 (K)] | 0.208 |')
    assert depth[-1] == '| **this model**, kitti | 0.100 | 0.800 | 4.500 | 0.190 | 0.880 | ' \
        '0.960 | 0.980 |'
    assert '| DeFeat-Net (CVPR 2020) [DeFeat-Net, KITTI feature table] | 0.105 | 1.113 | ' \
        '0.294 | 0.991 | 0.836 |' in features
    assert features[-1] == '| **this model**, kitti | 0.200 | 1.100 | 0.900 | 0.970 | 0.900 |'
    metric = reference_tables('night', {**day, 'same_data': False}, median_scaling=False)[0]
    assert 'this model metric, not median-scaled; context only' in metric.splitlines()[0]
    # a benchmark whose section the result lacks prints nothing
    assert reference_tables('x', {'depth': {}, 'benchmarks': ['kitti_odometry_09']}) == []
    with_tables = markdown_report({'conditions': {'kitti': day}})
    assert with_tables.index('### Depth') < with_tables.index('### Published')


def test_docs_list_the_published_numbers_as_the_reports_do():
    docs = Path(__file__).resolve().parents[1] / 'docs' / 'training.md'
    assert published_tables() in docs.read_text()


def test_error_map_colours_valid_pixels_and_blanks_the_rest():
    gt = torch.tensor([[10.0, 10.0, 0.0]])
    coloured = error_map(torch.tensor([[10.0, 20.0, 5.0]]), gt, max_error=0.5)
    assert coloured.shape == (1, 3, 3) and coloured.dtype == np.uint8
    assert (coloured[0, 2] == 0).all()  # no ground truth: black
    assert coloured[0, 0, 2] > coloured[0, 0, 0]  # no error: the blue end of turbo
    assert coloured[0, 1, 0] > coloured[0, 1, 2]  # error 1.0 > 0.5: the red end


def colour_map_index(pixels, colour_map):
    """
    Return the OpenCV colour map entry (0-255) nearest each RGB pixel, and how far it is.

    :param pixels: N x 3 uint8 RGB.
    :return: (indices N, distances N: sums of absolute channel differences).
    """
    table = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], colour_map)
    table = cv2.cvtColor(table, cv2.COLOR_BGR2RGB)[:, 0].astype(int)
    distance = np.abs(np.asarray(pixels, int)[:, None] - table[None]).sum(axis=2)
    return distance.argmin(axis=1), distance.min(axis=1)


def ramp_of(tile_bottom, image_height):
    """Return the middle row of the colour ramp in the strip under an image of a tile."""
    return tile_bottom[image_height + 2 + RAMP_HEIGHT // 2]


def test_depth_figure_is_a_column_of_four_labelled_tiles_with_colour_bars():
    height, width = 48, 64
    gt = torch.linspace(2.0, 40.0, width).repeat(height, 1)
    gt[::3] = 0.0  # sparse, as LiDAR
    figure = depth_figure(torch.rand(3, height, width), gt, torch.full((height, width), 2.0))
    shown = display_width(width)
    assert shown == 6 * width  # a network's size is enlarged by a whole factor
    tile = 6 * height + BAR_HEIGHT
    assert figure.shape == (4 * tile, shown, 3) and figure.dtype == np.uint8
    tiles = [figure[k * tile:(k + 1) * tile] for k in range(4)]
    assert (tiles[0][6 * height:] == BACKGROUND).all()  # the input has no colour bar
    for index in (1, 2):  # truth and prediction: magma, near (bright) left to far right
        positions, distance = colour_map_index(ramp_of(tiles[index], 6 * height),
                                               cv2.COLORMAP_MAGMA)
        assert distance.max() <= 3 and positions[0] >= 250 and positions[-1] <= 5
        assert (np.diff(positions) <= 0).all()
        labels = tiles[index][6 * height + 2 + RAMP_HEIGHT + 4:]
        assert (labels == TEXT_COLOUR[0]).any()
    positions, distance = colour_map_index(ramp_of(tiles[3], 6 * height), cv2.COLORMAP_TURBO)
    assert distance.max() <= 3 and positions[0] <= 5 and positions[-1] >= 250
    assert (np.diff(positions) >= 0).all()


def test_depth_bar_follows_colourise_depth_and_is_labelled_in_metres():
    near, far = 2.0, 75.0
    bar = depth_bar(300, near, far)
    assert bar.shape == (BAR_HEIGHT, 300, 3)
    # A depth map of the bar's labelled depths: its colours are the bar's at their ticks.
    for value in (near, 10.0, far):
        x = round((1 / near - 1 / value) / (1 / near - 1 / far) * 299)
        expected = colourise_depth(np.array([[value, near], [near, far]]), near, far)[0, 0]
        assert np.abs(bar[2 + RAMP_HEIGHT // 2, x].astype(int) - expected).max() <= 4, value
    assert metres(2.04) == '2 m' and metres(75.3) == '75 m' and metres(0.35) == '0.35 m'
    assert metres(123.4) == '123 m' and metres(0.1866, 3) == '0.187 m'
    flat = depth_bar(100, 5.0, 5.0)  # one depth: one label, no division by zero
    assert flat.shape == (BAR_HEIGHT, 100, 3)


def test_contact_sheet_puts_titled_columns_side_by_side():
    columns = [np.zeros((50, 30, 3), np.uint8), np.zeros((40, 20, 3), np.uint8)]
    sheet = contact_sheet(columns, ['first', 'second'])
    assert sheet.shape == (TITLE_HEIGHT + 50, 30 + GAP + 20, 3)
    assert (sheet[TITLE_HEIGHT + 40:, 30 + GAP:] == BACKGROUND).all()  # padded to the tallest
    assert (sheet[:, 30:30 + GAP] == BACKGROUND).all()


def test_spread_indices_take_the_middles_of_equal_parts():
    assert spread_indices(40, 1) == [20]
    assert spread_indices(40, 4) == [5, 15, 25, 35]
    assert spread_indices(3, 5) == [0, 1, 2]
    assert spread_indices(0, 3) == []


def test_trajectory_figure_draws_lines_with_opencv():
    z = np.linspace(0.0, 30.0, 40)
    truth = np.stack([np.sin(z / 10.0), np.zeros_like(z), z], axis=1)
    figure = trajectory_figure([('ground truth', truth), ('prediction', truth * 1.1)],
                               size=300, title='test')
    assert figure.shape == (300, 300, 3)
    green = (figure[:, :, 1] > 150) & (figure[:, :, 0] < 120)
    red = (figure[:, :, 0] > 150) & (figure[:, :, 1] < 120)
    assert green.sum() > 100 and red.sum() > 100


def test_trajectory_comparison_shows_the_scale_error_and_the_alignment():
    z = np.linspace(0.0, 30.0, 40)
    truth = np.stack([np.sin(z / 10.0), np.zeros_like(z), z], axis=1)
    assert alignment_label('day prediction', 15.04) == 'day prediction, scaled x15'
    size = 300
    figure = trajectory_comparison([('ground truth', truth)],
                                   [('day prediction', truth / 15.0, truth * 1.01, 15.04)],
                                   size=size)
    assert figure.shape == (TITLE_HEIGHT + size, 2 * size + GAP, 3)
    unaligned, aligned = (figure[TITLE_HEIGHT:, :size], figure[TITLE_HEIGHT:, size + GAP:])
    for panel in (unaligned, aligned):
        assert panel.shape == trajectory_figure([('x', truth)], size=size).shape
    for title in (figure[:TITLE_HEIGHT, :size], figure[:TITLE_HEIGHT, size + GAP:]):
        assert (title == TEXT_COLOUR[0]).any()

    def rows(panel, colour):
        red, green = panel[..., 0] > 150, panel[..., 1] > 150
        mask = (red & ~green) if colour == 'red' else (green & ~red)
        mask[:50] = False  # the legend
        found = np.nonzero(mask.any(axis=1))[0]
        return found.max() - found.min()
    # As predicted, a fifteenth of the distance: a short red stub; aligned: as long as the truth.
    assert rows(unaligned, 'red') < rows(unaligned, 'green') / 5
    assert rows(aligned, 'red') > rows(unaligned, 'green') * 0.9  # it covers the truth
    # The aligned legend names the scale: its second entry is longer than the unaligned one.
    legend = slice(30, 46)
    text = [np.nonzero((panel[legend] == TEXT_COLOUR).all(axis=2).any(axis=0))[0].max()
            for panel in (unaligned, aligned)]
    assert text[1] > text[0] + 40


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
