"""Edge-aware smoothness on mean-normalised disparity, optionally class-boundary-aware."""

from torch import nn


class EdgeAwareSmoothness(nn.Module):
    """
    |d disparity| * exp(-|d image|), in x and y, on disparity divided by its mean.

    Mean normalisation stops the loss from shrinking the depth scale. Input disparity
    B x 1 x H x W and image B x 3 x H x W at the same resolution; returns a scalar. The per-scale
    weight (1e-3 / 2^scale by default) is applied by the caller.

    With ``classes`` (B x 1 x H x W class ids at the same resolution, seed 004) a neighbour pair
    of different classes costs nothing: depth may jump at class boundaries. The mean stays over
    all pairs, so the weight means the same.
    """

    def forward(self, disparity, image, classes=None):
        """Return the mean edge-aware gradient of the normalised disparity."""
        disp = disparity / (disparity.mean(dim=(2, 3), keepdim=True) + 1e-7)
        grad_disp_x = (disp[:, :, :, :-1] - disp[:, :, :, 1:]).abs()
        grad_disp_y = (disp[:, :, :-1, :] - disp[:, :, 1:, :]).abs()
        grad_img_x = (image[:, :, :, :-1] - image[:, :, :, 1:]).abs().mean(dim=1, keepdim=True)
        grad_img_y = (image[:, :, :-1, :] - image[:, :, 1:, :]).abs().mean(dim=1, keepdim=True)
        weight_x, weight_y = (-grad_img_x).exp(), (-grad_img_y).exp()
        if classes is not None:
            weight_x = weight_x * (classes[:, :, :, :-1] == classes[:, :, :, 1:])
            weight_y = weight_y * (classes[:, :, :-1, :] == classes[:, :, 1:, :])
        return (grad_disp_x * weight_x).mean() + (grad_disp_y * weight_y).mean()
