"""Geometric re-ranking of the global top-K with local features (pure functions).

For a query and each of its K best gallery images by global cosine:

1. match RootSIFT descriptors, nearest neighbour + Lowe's ratio test;
2. count the evidence: by default the matches consistent with one RANSAC
   homography (``verification="homography"``: rooms are mostly planar walls,
   beds and furniture); or simply the matches passing the ratio test
   (``"ratio"``). On Holidays split A the plain count was marginally better
   (0.852 vs 0.845 clean mAP, 0.724 vs 0.713 medium masked) and 1 ms per pair
   cheaper, but unrelated images made of similar shapes already reach 9
   tentative matches and 0 inliers (tests/test_rerank.py): hotel chains repeat
   their furniture, so the default keeps the geometric check;
3. fuse: ``score = cosine + weight * min(n, cap) / cap`` when at least
   ``min_inliers`` matches survive, else the plain cosine. A verified match lifts
   an image above unverified ones; two verified images keep their global order
   unless one has clearly more matches.

Images beyond the top-K keep their global score, so the ranking outside the
top-K is unchanged. Parameters were chosen on Holidays split A (even groups); the
weight again, since hotel context, on hotelrooms and split A together: 0.35, not 0.5,
then 0.3 with the Lite1 serving model. The score in context ranks rooms better than
the plain cosine did, and rooms repeat furniture and fittings from hotel to hotel, so a
full lift let a few inliers on a look-alike room outrank the right hotel, most of all
for person-erased queries (docs/benchmarks.md, "Verification weight").
OpenCV is imported lazily.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RerankConfig:
    top_k: int = 30  # global candidates verified per query
    ratio: float = 0.8  # Lowe's ratio test on RootSIFT distances
    verification: str = "homography"  # or "ratio": count ratio-test matches, no geometry
    ransac_px: float = 8.0  # homography reprojection threshold, pixels of downscaled images
    min_inliers: int = 6  # fewer inliers than this: no evidence at all
    cap: int = 40  # inliers beyond this add nothing
    weight: float = 0.3  # lift of a fully verified image, in cosine units (see below)

    def __post_init__(self):
        if self.verification not in ("homography", "ratio"):
            raise ValueError(
                f"verification must be 'homography' or 'ratio', not {self.verification!r}"
            )

    @property
    def version(self):
        geometry = ":ratio" if self.verification == "ratio" else f":h{self.ransac_px:g}"
        return (
            f"rr:k{self.top_k}:r{self.ratio:g}{geometry}:"
            f"m{self.min_inliers}:c{self.cap}:w{self.weight:g}"
        )


def root_sift(descriptors):
    """uint8 SIFT → RootSIFT (L1-normalise, square root): L2-unit float32 rows."""
    d = descriptors.astype(np.float32)
    d /= np.maximum(d.sum(axis=1, keepdims=True), 1e-7)
    return np.sqrt(d)


def ratio_matches(query_desc, gallery_desc, ratio):
    """(M, 2) index pairs (query row, gallery row) passing Lowe's ratio test.

    Both inputs are RootSIFT float32 rows. Squared distances of unit vectors are
    2 - 2·dot, so one matrix product finds the two nearest neighbours.
    """
    if len(query_desc) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    return _ratio_from_dots(query_desc @ gallery_desc.T, ratio)


def _ratio_from_dots(dots, ratio):
    """Ratio test on a (Nq, Ng) block of RootSIFT dot products (modified in place)."""
    if dots.shape[0] == 0 or dots.shape[1] < 2:
        return np.zeros((0, 2), dtype=np.int64)
    rows = np.arange(dots.shape[0])
    nearest = dots.argmax(axis=1)  # two argmax passes: ~30x faster than argpartition here
    first = dots[rows, nearest]
    dots[rows, nearest] = -np.inf
    second = dots.max(axis=1)
    d1, d2 = np.maximum(2 - 2 * first, 0), np.maximum(2 - 2 * second, 0)
    ok = d1 < (ratio**2) * d2  # squared distances: ratio squared
    return np.stack([rows[ok], nearest[ok]], axis=1)


def count_inliers(query_xy, gallery_xy, matches, ransac_px):
    """Matches consistent with one homography (RANSAC); 0 when fewer than 4 matches."""
    import cv2

    if len(matches) < 4:
        return 0
    src = query_xy[matches[:, 0]].reshape(-1, 1, 2)
    dst = gallery_xy[matches[:, 1]].reshape(-1, 1, 2)
    _, inliers = cv2.findHomography(
        src, dst, cv2.RANSAC, ransac_px, maxIters=2000, confidence=0.995
    )
    return 0 if inliers is None else int(inliers.sum())


def verify(query, gallery, config=RerankConfig()):
    """Evidence (match or inlier count) between two LocalFeatures (query, gallery image)."""
    return _evidence(query, root_sift(query.descriptors), gallery, config)


def _evidence(query, query_root, gallery, config, dots=None):
    """Match (or inlier) count; `dots` = query_root @ gallery RootSIFT.T when precomputed."""
    if dots is None:
        matches = ratio_matches(query_root, root_sift(gallery.descriptors), config.ratio)
    else:
        matches = _ratio_from_dots(dots, config.ratio)
    if config.verification == "homography":
        return count_inliers(query.xy, gallery.xy, matches, config.ransac_px)
    return len(matches)


def fused_score(cosine, inliers, config=RerankConfig()):
    """Global cosine lifted by geometric evidence (see the module docstring)."""
    inliers = np.asarray(inliers, dtype=np.float32)
    lift = config.weight * np.minimum(inliers, config.cap) / config.cap
    return np.where(inliers >= config.min_inliers, cosine + lift, cosine)


def rerank(similarity, query, gallery_features, config=RerankConfig()):
    """Re-score the top-K of one query's (G,) global similarities; returns a new (G,) array.

    gallery_features: sequence (or mapping by gallery index) of LocalFeatures;
    `similarity` may hold -inf for excluded images (e.g. the query itself).
    Sort the result descending to get the final ranking.
    """
    return rerank_with_evidence(similarity, query, gallery_features, config)[0]


def rerank_with_evidence(similarity, query, gallery_features, config=RerankConfig()):
    """`rerank`, plus {gallery index: evidence} of the images it verified.

    The evidence (inliers, or ratio matches) is what an investigator is shown: "verified
    with 37 matching points" is only true of the images that were checked.
    """
    scores = np.array(similarity, dtype=np.float32, copy=True)
    k = min(config.top_k, len(scores))
    if k == 0 or len(query) == 0:
        return scores, {}
    candidates = np.argpartition(-scores, k - 1)[:k]
    candidates = candidates[np.isfinite(scores[candidates])]
    if len(candidates) == 0:
        return scores, {}
    query_root = root_sift(query.descriptors)
    others = [gallery_features[g] for g in candidates]
    # One matrix product against all candidates: small per-pair products are slow in
    # multi-threaded BLAS on a busy machine (measured 7 ms vs 0.8 ms single-threaded).
    dots = query_root @ np.concatenate([root_sift(o.descriptors) for o in others]).T
    bounds = np.cumsum([0] + [len(o) for o in others])
    evidence = {}
    for i, (g, other) in enumerate(zip(candidates, others, strict=True)):
        block = dots[:, bounds[i] : bounds[i + 1]]
        evidence[int(g)] = _evidence(query, query_root, other, config, block)
        scores[g] = fused_score(scores[g], evidence[int(g)], config)
    return scores, evidence


def inlier_pairs(query, gallery, config=RerankConfig()):
    """(N, 4) float32 rows (query x, y, gallery x, y) of the matches one homography explains.

    The same ratio test and RANSAC as `verify`, keeping which matches agree, for drawing
    them. Empty when fewer than 4 matches pass the ratio test or no homography is found.
    """
    import cv2

    matches = ratio_matches(
        root_sift(query.descriptors), root_sift(gallery.descriptors), config.ratio
    )
    if len(matches) < 4:
        return np.zeros((0, 4), np.float32)
    src, dst = query.xy[matches[:, 0]], gallery.xy[matches[:, 1]]
    _, inliers = cv2.findHomography(
        src.reshape(-1, 1, 2),
        dst.reshape(-1, 1, 2),
        cv2.RANSAC,
        config.ransac_px,
        maxIters=2000,
        confidence=0.995,
    )
    if inliers is None:
        return np.zeros((0, 4), np.float32)
    keep = inliers.ravel().astype(bool)
    return np.hstack([src[keep], dst[keep]]).astype(np.float32)
