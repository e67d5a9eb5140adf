"""SfMLearner's explainability mask: down-weight pixels no rigid warp can explain."""

import torch
from torch import nn


class ExplainabilityLoss(nn.Module):
    """
    Weights per-source errors by predicted explainability and regularises the masks towards 1.

    Without the regulariser the trivial solution is an all-zero mask; SfMLearner penalises it with
    the cross-entropy against the constant label "explainable", -log(E).
    """

    def __init__(self, eps=1e-6):
        super().__init__()
        self.eps = eps

    @staticmethod
    def weight_errors(errors, masks):
        """errors, masks: B x S x H x W -> errors scaled by the masks."""
        return errors * masks

    def regulariser(self, masks):
        """Mean cross-entropy of masks B x S x H x W against the label 1."""
        return -torch.log(masks.clamp(min=self.eps)).mean()
