"""Local-feature re-ranking in the live system: storage of gallery keypoints, search glue.

The evaluation showed (docs/benchmarks.md, "Match quality") that verifying the global
top-30 with RootSIFT + RANSAC lifts Holidays mAP from 0.809 to 0.864 (0.899 with 1000
keypoints and the query's four turns), and more with a masked query. Here the same
`retrieval.verification.rerank` runs on every search:

- workers store each image's keypoints (`LocalFeatureSet`, one per `LOCAL.version`) with
  its embedding, from the same decoded thumbnail (`matcher.embedding.store_all`);
- a search extracts the query's keypoints once (erased pixels give none) and re-scores
  the index's best `RERANK.top_k` neighbours before they are grouped into hotels.

An image without stored keypoints (embedded before this existed, not yet backfilled by
`manage.py embed --local-features`) keeps its global score. OpenCV is imported lazily
by `retrieval.local_features`, so importing this module stays light.
"""

import functools

import numpy as np
from django.conf import settings
from django.db.models import QuerySet

from matcher.models import LocalFeatureSet
from retrieval.local_features import LocalConfig, LocalFeatures, LocalFeaturesError, extract
from retrieval.verification import RerankConfig, rerank_with_evidence
from rooms.models import RoomImage

LOCAL = LocalConfig()  # the thumbnails workers decode are 512 px = LOCAL.max_side
RERANK = RerankConfig()
NO_FEATURES = LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.uint8))


def describe_local(image, mask=None) -> LocalFeatures:
    """Keypoints of a gallery image (no mask) or a prepared query (mask True = erased)."""
    limit_opencv_threads()
    return extract(image, mask, LOCAL)


@functools.cache
def limit_opencv_threads() -> None:
    """OpenCV gets the CNN's thread budget (MATCHER_THREADS, default 1) in this process.

    Its default pool (one thread per core) made SIFT on a 512 px thumbnail ~2x slower
    (53 vs 28 ms median) with one worker process per core on a busy 2-core machine.
    Process-wide: intake's face and person checks run one image at a time too.
    """
    import cv2

    cv2.setNumThreads(settings.MATCHER_THREADS)


def store_local_features(image_id: int, features: LocalFeatures) -> None:
    """Save an image's keypoints once per version (call inside the embedding's transaction).

    A rerun keeps the first blob: the unique constraint and get_or_create make the
    task and the backfill safe to run twice.
    """
    data = features.to_bytes()
    row = LocalFeatureSet(image_id=image_id, version=LOCAL.version, data=data)
    row.full_clean(exclude=["image"], validate_unique=False, validate_constraints=False)
    LocalFeatureSet.objects.get_or_create(
        image_id=image_id, version=LOCAL.version, defaults={"data": data}
    )


def gallery_features(image_ids) -> dict[int, LocalFeatures]:
    """{image id: keypoints} for those of `image_ids` that have them in this version."""
    rows = LocalFeatureSet.objects.filter(image_id__in=list(image_ids), version=LOCAL.version)
    features = {}
    for image_id, data in rows.values_list("image_id", "data"):
        try:
            features[image_id] = LocalFeatures.from_bytes(data)
        except LocalFeaturesError:  # a damaged blob costs that image its lift, not the search
            continue
    return features


def rerank_neighbours(neighbours, query: LocalFeatures | None):
    """The index's (image id, cosine) pairs with the best `RERANK.top_k` re-scored, and
    {image id: inliers} of the images verification checked.

    Exactly the evaluation's `rerank()` on the neighbours' similarity vector; only the
    top-K's keypoints are read. Returns the pairs best first. `query=None` (or a query
    without keypoints) leaves every score as it was and checks nothing.
    """
    if query is None or len(query) == 0 or not neighbours:
        return list(neighbours), {}
    ids = [image_id for image_id, _ in neighbours]
    similarity = np.array([score for _, score in neighbours], dtype=np.float32)
    order = np.argsort(-similarity, kind="stable")
    # rerank() picks its own top-K; on a tie at the boundary it may pick an image not
    # read here, which then keeps its global score like any image without keypoints.
    stored = gallery_features(ids[i] for i in order[: RERANK.top_k])
    features = [stored.get(image_id, NO_FEATURES) for image_id in ids]
    scores, evidence = rerank_with_evidence(similarity, query, features, RERANK)
    ranked = sorted(zip(ids, scores.tolist(), strict=True), key=lambda pair: (-pair[1], pair[0]))
    # An image without stored keypoints was not checked: it has no count, not zero.
    inliers = {ids[g]: count for g, count in evidence.items() if ids[g] in stored}
    return ranked, inliers


def verified(inliers: int | None) -> bool:
    """Whether a match's geometric evidence lifted its score (`fused_score`'s rule)."""
    return inliers is not None and inliers >= RERANK.min_inliers


def missing_local_ids() -> QuerySet:
    """Embedded images without keypoints of this version (for the backfill)."""
    return (
        RoomImage.objects.filter(status=RoomImage.Status.EMBEDDED)
        .exclude(local_features__version=LOCAL.version)
        .order_by("id")
        .values_list("id", flat=True)
    )
