"""
Dense feature quality: distances of true and false correspondences, and ROC-AUC.

True correspondences come from ground-truth depth and pose (:func:`true_correspondences`:
``geometry.correspondences`` plus masks). For anchor pixels of the target image, the positive is
the source feature at the true match; negatives are source features elsewhere: *global*
negatives anywhere in the image, *local* negatives within 25 pixels of the true match (the
hard ones). Both keep at least ``min_negative_distance`` pixels away from the match, as the
contrastive loss does. A descriptor separates the two sets when positive distances are small
and negative ones large; the ROC-AUC is the probability that a random negative lies further
than a random positive (ties count half), computed exactly from ranks (Mann-Whitney U).
"""

from dataclasses import dataclass, field
import math

from defeat_ros.geometry import in_view, reproject, sample
import torch

LOCAL_RADIUS = 25.0
"""Local negatives lie within this many pixels of the true match."""

MIN_NEGATIVE_DISTANCE = 3.0
"""Negatives lie at least this many pixels from the true match (as in the contrastive loss)."""


def roc_auc(positive_distances, negative_distances):
    """
    Exact ROC-AUC of distances as a classifier: small distance = match.

    ``AUC = P(d_neg > d_pos) + 1/2 P(d_neg = d_pos)`` over all (positive, negative) pairs, from
    the Mann-Whitney U statistic with mid-ranks for ties: O(n log n), no sampling.

    :param positive_distances: 1-D distances of true correspondences.
    :param negative_distances: 1-D distances of false correspondences.
    :return: float in [0, 1] (1: every negative further than every positive).
    """
    pos = torch.as_tensor(positive_distances, dtype=torch.float64).flatten()
    neg = torch.as_tensor(negative_distances, dtype=torch.float64).flatten()
    if pos.numel() == 0 or neg.numel() == 0:
        raise ValueError('ROC-AUC needs at least one positive and one negative')
    values = torch.cat([pos, neg])
    ordered, order = values.sort()
    _, counts = torch.unique_consecutive(ordered, return_counts=True)
    ends = counts.cumsum(0).double()
    mid_ranks = ends - (counts.double() - 1.0) / 2.0  # 1-based average rank of each tie group
    ranks = torch.empty_like(values)
    ranks[order] = torch.repeat_interleave(mid_ranks, counts)
    n_pos, n_neg = pos.numel(), neg.numel()
    rank_sum = ranks[n_pos:].sum().item()
    return (rank_sum - n_neg * (n_neg + 1) / 2.0) / (n_pos * n_neg)


def true_correspondences(depth_target, t_source_target, k_pix, source_depth=None,
                         moving=None, occlusion_tolerance=0.05):
    """
    Source pixels of target pixels and which of them are true correspondences.

    A target pixel counts when its ground-truth depth is known (finite, > 0), its point lands
    in front of the source camera and inside the source image, it is not on a moving object,
    and (when ``source_depth`` is given) it is not occluded there: the source's depth at the
    match is within ``occlusion_tolerance`` (relative) of the point's depth.

    :param depth_target: H x W (or 1 x H x W) true target depth; 0 / inf / NaN where unknown.
    :param t_source_target: 4 x 4 true transform from target to source camera.
    :param k_pix: 3 x 3 pixel intrinsics of both images.
    :param source_depth: optional H x W true source depth.
    :param moving: optional H x W bool mask of target pixels on moving objects.
    :return: (pixels 2 x H x W source coordinates, corner convention; valid H x W bool).
    """
    depth = depth_target.reshape(1, 1, *depth_target.shape[-2:]).double()
    known = torch.isfinite(depth) & (depth > 0)
    depth = torch.where(known, depth, torch.ones_like(depth))
    transform = torch.as_tensor(t_source_target, dtype=torch.float64).reshape(1, 4, 4)
    k = torch.as_tensor(k_pix, dtype=torch.float64).reshape(1, 3, 3)
    pixels, projected_depth = reproject(depth, transform, k)
    valid = known & (in_view(pixels, projected_depth) > 0)
    if moving is not None:
        valid = valid & ~moving.reshape(valid.shape).to(torch.bool)
    if source_depth is not None:
        src = source_depth.reshape(1, 1, *source_depth.shape[-2:]).double()
        seen = sample(torch.nan_to_num(src, posinf=1e9), pixels, mode='nearest')
        valid = valid & ((seen - projected_depth).abs() <= occlusion_tolerance * seen)
    return pixels[0].float(), valid[0, 0]


def _uniform_annulus(count, low, high, generator):
    """Offsets count x 2 spread uniformly over the area of the ring low <= r <= high."""
    radius = torch.sqrt(low ** 2 + (high ** 2 - low ** 2)
                        * torch.rand(count, generator=generator, dtype=torch.float64))
    angle = 2 * math.pi * torch.rand(count, generator=generator, dtype=torch.float64)
    return torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1)


def sample_negatives(matches, height, width, radius, min_distance, generator, tries=100):
    """
    One negative source location per match, inside the image.

    :param matches: N x 2 true source pixel coordinates (x, y), corner convention.
    :param radius: None or 0 for global negatives (uniform over the image); else local ones,
        uniform over the ring ``min_distance <= r <= radius`` around the match.
    :return: (negatives N x 2, ok N bool: False where no location was found in ``tries``).
    """
    n = matches.shape[0]
    size = torch.tensor([width, height], dtype=torch.float64)
    negatives = torch.zeros(n, 2, dtype=torch.float64)
    ok = torch.zeros(n, dtype=torch.bool)
    for _ in range(tries):
        todo = (~ok).nonzero().flatten()
        if todo.numel() == 0:
            break
        if radius:
            candidate = matches[todo] + _uniform_annulus(todo.numel(), min_distance, radius,
                                                         generator)
        else:
            candidate = torch.rand(todo.numel(), 2, generator=generator,
                                   dtype=torch.float64) * size
        inside = ((candidate >= 0) & (candidate < size)).all(dim=1)
        far = (candidate - matches[todo]).norm(dim=1) >= min_distance
        good = inside & far
        negatives[todo[good]] = candidate[good]
        ok[todo[good]] = True
    return negatives, ok


def _features_at(feature_map, pixels):
    """Bilinear features n x H x W at N x 2 pixel coordinates -> N x n."""
    grid = pixels.t().reshape(1, 2, -1, 1).to(feature_map.dtype)
    return sample(feature_map[None], grid)[0, :, :, 0].t()


def feature_distances(target_features, source_features, pixels, valid,
                      local_radius=LOCAL_RADIUS, min_negative_distance=MIN_NEGATIVE_DISTANCE,
                      max_anchors=5000, generator=None):
    """
    Euclidean feature distances of true matches and of global and local negatives.

    Anchors are target pixel centres with a true correspondence (at most ``max_anchors``,
    drawn without replacement); features are read bilinearly at the (sub-pixel) match and at
    each anchor's one global and one local negative.

    :param target_features: n x H x W target features.
    :param source_features: n x H x W source features.
    :param pixels: 2 x H x W source coordinates of every target pixel (corner convention).
    :param valid: H x W bool, target pixels whose correspondence is true.
    :param generator: torch.Generator for reproducible anchors and negatives.
    :return: dict of 1-D float64 tensors: ``positive``, ``global_negative``, ``local_negative``.
    """
    n, height, width = target_features.shape
    index = valid.flatten().nonzero().flatten()
    if index.numel() > max_anchors:
        index = index[torch.randperm(index.numel(), generator=generator)[:max_anchors]]
    anchors = target_features.reshape(n, -1)[:, index].t().double()
    matches = pixels.reshape(2, -1)[:, index].t().double()
    source = source_features.double()
    result = {'positive': (anchors - _features_at(source, matches)).norm(dim=1)}
    for name, radius in (('global_negative', None), ('local_negative', local_radius)):
        negatives, ok = sample_negatives(matches, height, width, radius, min_negative_distance,
                                         generator)
        result[name] = (anchors[ok] - _features_at(source, negatives[ok])).norm(dim=1)
    return result


def feature_summary(distances):
    """Return mean distances, both ROC-AUCs and the anchor count from pooled distances."""
    pos = distances['positive']
    result = {'positive_distance': float(pos.mean()), 'anchors': int(pos.numel())}
    for kind in ('global', 'local'):
        neg = distances[f'{kind}_negative']
        result[f'{kind}_negative_distance'] = float(neg.mean())
        result[f'{kind}_auc'] = roc_auc(pos, neg)
    return result


@dataclass
class FeatureEvaluation:
    """Pool feature distances over image pairs; ``summary()`` gives distances and AUCs."""

    local_radius: float = LOCAL_RADIUS
    """Local negatives lie within this many pixels of the true match."""
    min_negative_distance: float = MIN_NEGATIVE_DISTANCE
    """Negatives lie at least this many pixels from the true match."""
    max_anchors: int = 5000
    """Anchor pixels drawn per image pair."""
    seed: int = 0
    """Seed of the anchor and negative draws."""
    distances: dict = field(default_factory=dict)
    """Pooled 1-D distance tensors by kind."""

    def __post_init__(self):
        """Start the random draws."""
        self.generator = torch.Generator().manual_seed(self.seed)

    def add(self, target_features, source_features, pixels, valid):
        """Add one image pair (see :func:`feature_distances`); returns its distances."""
        pair = feature_distances(target_features, source_features, pixels, valid,
                                 self.local_radius, self.min_negative_distance,
                                 self.max_anchors, self.generator)
        if pair['positive'].numel() == 0:
            return pair
        for name, values in pair.items():
            self.distances[name] = torch.cat([self.distances.get(name, values[:0]), values])
        return pair

    def summary(self):
        """Return the pooled :func:`feature_summary`."""
        if not self.distances:
            raise ValueError('no true correspondences were evaluated')
        return feature_summary(self.distances)
