"""The matcher's entry point for a visual search: `rank_hotels(query, filters=, k=)`.

The investigations app calls only this module: it describes the query (global
descriptor at four turns, local features for verification), checks that the process's
model is the one the index serves, and ranks hotels and chains (`matcher.search`).
torch is imported on the first search, not when this module is imported.
"""

from dataclasses import dataclass

import numpy as np

from matcher import whitened
from matcher.embedding import get_extractor
from matcher.live_rerank import describe_local
from matcher.models import IndexState
from matcher.search import search_hotels
from retrieval.errors import EmptyQueryError
from rooms.selectors import HotelFilters

__all__ = [
    "EmptyQueryError",
    "HotelFilters",
    "IndexVersionMismatch",
    "Ranking",
    "VisualQuery",
    "describe_query",
    "rank_hotels",
]


class IndexVersionMismatch(RuntimeError):
    """This process's model is not the one the index serves: the vectors would not compare."""


@dataclass(frozen=True)
class VisualQuery:
    image: object  # PIL RGB image, upright, erased pixels already grey
    mask: np.ndarray | None = None  # (H, W) bool, True = erased; None = nothing erased


@dataclass(frozen=True)
class Ranking:
    hotels: list  # dicts, see matcher.results.hotel_result
    chains: list  # dicts {rank, score, chain: {id, name}}
    model_version: str  # the descriptor the query was described with


def describe_query(image, mask=None) -> tuple[np.ndarray, str]:
    """The query's (R, D) vectors (one per turn) and the model version they belong to;
    erased cells (mask True) are not pooled. Where the search serves a learned whitening
    of this process's descriptor, the vectors are whitened with it.

    Raises `EmptyQueryError` when the mask leaves nothing, `IndexVersionMismatch` when
    the index serves another model.
    """
    extractor = get_extractor()  # loads torch and the backbone on first use only
    active = IndexState.get().active_version
    served = whitened.map_of(active) if active else None
    raw, learned = served if served else (active, None)
    if raw and raw != extractor.version_key:
        raise IndexVersionMismatch(
            f"the index serves {active!r} but this process describes with {extractor.version_key!r}"
        )
    # (R, D): the query at each of `query_rotations`, searched by `search_hotels`.
    vectors = extractor.describe_queries([image], [mask], batch_size=4)[0]
    if learned is None:
        return vectors, extractor.version_key
    return learned.apply(vectors), active


def rank_hotels(query: VisualQuery, *, filters: HotelFilters | None = None, k=10) -> Ranking:
    """The k most likely hotels for the query's photo, best first, and their chains."""
    vectors, model_version = describe_query(query.image, query.mask)
    # Keypoints for re-ranking the top matches: none on (or next to) erased pixels.
    local = describe_local(query.image, query.mask)
    outcome = search_hotels(vectors, k=k, filters=filters, query_features=local)
    return Ranking(hotels=outcome.hotels, chains=outcome.chains, model_version=model_version)
