"""The matcher's entry point for a visual search: `rank_hotels(query, filters=, k=)`.

The investigations app calls only this module: it describes the query (global
descriptor at four turns, local features for verification), checks that the process's
model is the one the index serves, and ranks hotels and chains (`matcher.search`).
torch is imported on the first search, not when this module is imported.
"""

from dataclasses import dataclass

import numpy as np

from matcher import whitened
from matcher.embedding import UndecodableImage, decode, get_extractor, read_stored_bytes
from matcher.indexes import live_images
from matcher.live_rerank import LOCAL, RERANK, describe_local, gallery_features
from matcher.live_rerank import verified as is_verified  # "verified: 37 points" or not
from matcher.models import IndexState
from matcher.search import search_hotels, search_hotels_set
from retrieval.errors import EmptyQueryError
from rooms.selectors import HotelFilters

__all__ = [
    "EmptyQueryError",
    "MatchGone",
    "MatchCorrespondences",
    "explain_match",
    "match_correspondences",
    "HotelFilters",
    "IndexVersionMismatch",
    "Ranking",
    "VisualQuery",
    "describe_query",
    "rank_hotels",
    "is_verified",
]


class IndexVersionMismatch(RuntimeError):
    """This process's model is not the one the index serves: the vectors would not compare."""


class MatchGone(LookupError):
    """The gallery photo is no longer shown (hidden, flagged, deleted) or cannot be read."""


@dataclass(frozen=True)
class VisualQuery:
    image: object  # PIL RGB image, upright, erased pixels already grey
    mask: np.ndarray | None = None  # (H, W) bool, True = erased; None = nothing erased


@dataclass(frozen=True)
class Ranking:
    hotels: list  # dicts, see matcher.results.hotel_result
    chains: list  # dicts {rank, score, chain: {id, name}}
    model_version: str  # the descriptor the query was described with
    verified_lift: float = RERANK.weight  # what verification adds at most, in this ranking


def describe_query(image, mask=None) -> tuple[np.ndarray, str]:
    """The query's (R, D) vectors (one per turn) and the model version they belong to;
    erased cells (mask True) are not pooled. Where the search serves a learned whitening
    of this process's descriptor, the vectors are whitened with it.

    Raises `EmptyQueryError` when the mask leaves nothing, `IndexVersionMismatch` when
    the index serves another model.
    """
    extractor, active, learned = _served_model()
    # (R, D): the query at each of `query_rotations`, searched by `search_hotels`.
    vectors = extractor.describe_queries([image], [mask], batch_size=4)[0]
    if learned is None:
        return vectors, extractor.version_key
    return learned.apply(vectors), active


def _served_model():
    """(extractor, served version, its learned whitening or None); checks they agree."""
    extractor = get_extractor()  # loads torch and the backbone on first use only
    active = IndexState.get().active_version
    served = whitened.map_of(active) if active else None
    raw, learned = served if served else (active, None)
    if raw and raw != extractor.version_key:
        raise IndexVersionMismatch(
            f"the index serves {active!r} but this process describes with {extractor.version_key!r}"
        )
    return extractor, active, learned


def rank_hotels(query: VisualQuery, *, filters: HotelFilters | None = None, k=10) -> Ranking:
    """The k most likely hotels for the query's photo, best first, and their chains."""
    vectors, model_version = describe_query(query.image, query.mask)
    # Keypoints for re-ranking the top matches: none on (or next to) erased pixels.
    local = describe_local(query.image, query.mask)
    outcome = search_hotels(vectors, k=k, filters=filters, query_features=local)
    return Ranking(hotels=outcome.hotels, chains=outcome.chains, model_version=model_version)


def rank_hotels_set(queries: list[VisualQuery], *, filters=None, k=10) -> list[Ranking]:
    """`rank_hotels` for each photo of a set of one room, the index searched once.

    An `EmptyQueryError` carries `photo`, the 1-based number of the photo it concerns.
    """
    described = []
    for number, query in enumerate(queries, 1):
        try:
            described.append(describe_query(query.image, query.mask))
        except EmptyQueryError as exc:
            exc.photo = number
            raise
    local = [describe_local(query.image, query.mask) for query in queries]
    vectors = [vector for vector, _ in described]
    outcomes = search_hotels_set(vectors, k=k, filters=filters, query_features=local)
    return [
        Ranking(hotels=outcome.hotels, chains=outcome.chains, model_version=version)
        for outcome, (_, version) in zip(outcomes, described, strict=True)
    ]


# --- evidence for one shown match ---


def gallery_photo(image_id: int):
    """A shown gallery photo as the workers described it (upright thumbnail, RGB)."""
    row = live_images().filter(pk=image_id).values_list("thumbnail", "file").first()
    if row is None:
        raise MatchGone(f"photo {image_id} is no longer in the gallery")
    try:
        return decode(read_stored_bytes(row[0] or row[1]), LOCAL.max_side)
    except (OSError, UndecodableImage) as exc:
        raise MatchGone(f"photo {image_id} cannot be read: {exc}") from exc


def explain_match(query: VisualQuery, image_id: int, cosine: float | None = None):
    """(`retrieval.explain.Explanation`, gallery photo): where the cosine comes from.

    Exact for the serving descriptor, whitening included: each map sums to the cosine.
    `cosine`: the score the search found, which spares the turns that did not give it.
    """
    from retrieval.explain import explain_pair

    extractor, _, learned = _served_model()
    gallery = gallery_photo(image_id)
    explanation = explain_pair(extractor, query.image, query.mask, gallery, learned, cosine)
    return explanation, gallery


@dataclass(frozen=True)
class MatchCorrespondences:
    pairs: np.ndarray  # (N, 4) query x, y, gallery x, y; each normalised to 0..1 of its photo
    gallery: object  # the gallery photo (PIL) the points are on

    @property
    def inliers(self) -> int:
        return len(self.pairs)


def match_correspondences(query: VisualQuery, image_id: int) -> MatchCorrespondences:
    """The keypoint pairs one homography explains, as the re-ranking verified them.

    With `RERANK.verification == "ratio"` the ranking counted ratio-test matches, not a
    layout; the drawing still shows the homography's inliers, the stricter of the two.
    """
    from retrieval.verification import inlier_pairs

    gallery = gallery_photo(image_id)
    stored = gallery_features([image_id]).get(image_id) or describe_local(gallery)
    pairs = inlier_pairs(describe_local(query.image, query.mask), stored, RERANK)
    scale = np.array([*_seen_size(query.image), *_seen_size(gallery)], dtype=np.float32)
    return MatchCorrespondences(pairs / scale, gallery)


def _seen_size(image) -> tuple[int, int]:
    """(width, height) of the image SIFT saw: shrunk to `LOCAL.max_side`, never enlarged."""
    scale = min(1.0, LOCAL.max_side / max(image.size))
    return max(1, round(image.width * scale)), max(1, round(image.height * scale))
