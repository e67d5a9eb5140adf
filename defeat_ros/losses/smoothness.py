"""Edge-aware smoothness on mean-normalised disparity."""

from torch import nn


class EdgeAwareSmoothness(nn.Module):
    """
    |d disparity| * exp(-|d image|), in x and y, on disparity divided by its mean.

    Mean normalisation stops the loss from shrinking the depth scale. Input disparity
    B x 1 x H x W and image B x 3 x H x W at the same resolution; returns a scalar. The per-scale
    weight (1e-3 / 2^scale by default) is applied by the caller.
    """

    def forward(self, disparity, image):
        """Return the mean edge-aware gradient of the normalised disparity."""
        disp = disparity / (disparity.mean(dim=(2, 3), keepdim=True) + 1e-7)
        grad_disp_x = (disp[:, :, :, :-1] - disp[:, :, :, 1:]).abs()
        grad_disp_y = (disp[:, :, :-1, :] - disp[:, :, 1:, :]).abs()
        grad_img_x = (image[:, :, :, :-1] - image[:, :, :, 1:]).abs().mean(dim=1, keepdim=True)
        grad_img_y = (image[:, :, :-1, :] - image[:, :, 1:, :]).abs().mean(dim=1, keepdim=True)
        return ((grad_disp_x * (-grad_img_x).exp()).mean()
                + (grad_disp_y * (-grad_img_y).exp()).mean())
