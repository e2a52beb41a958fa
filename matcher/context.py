"""The leading hotels' photos re-scored in their hotel's context (`retrieval.context`).

After the index's first round, the hotels its neighbours lead with (at least 30) are
re-scored: every live photo of those hotels, blended with its hotel's nearest photos,
against the query's turns. Photos of the other hotels fall out of the ranking (they
ranked below all of these). The photos' vectors come from the index where it maps them
(`SharedIndex`, which gathers each photo's neighbours from a table kept with its
snapshot), else from one database query; the plain cosine of each photo stays the
evidence the heat maps explain. Off with the setting `MATCHER_HOTEL_CONTEXT=0`.

Liveness: every photo scored here was checked live a moment ago (the database path
reads searchable rows; `SharedIndex` probes the hotels' rows), so the index need not
check its first round (`checks_liveness`): that round only names the leading hotels.
A hotel may then lead on a photo hidden since the index's last catch-up; it is re-scored
on its live photos, like any other leading hotel (one with none left holds a leading
place in that one search: the probe drops its photos from the index for the next).
"""

from dataclasses import dataclass

import numpy as np
from django.conf import settings

from matcher.indexes import get_index, not_searchable, searchable_embeddings
from matcher.models import IndexState, stacked_vectors
from retrieval.context import blended_cosines, leading_hotels


@dataclass
class InContext:
    neighbours: list  # [(image id, score in context)], best first
    owners: dict  # {image id: (hotel id, chain id)}
    cosines: dict  # {image id: plain cosine}: the evidence shown
    # {hotel id: live photos} of the hotels re-scored (every hotel ranked); None: not read
    photo_counts: dict | None = None


def checks_liveness(index) -> bool:
    """Whether the context step checks the photos it keeps, so `index` need not check
    its first round (see the module docstring)."""
    return settings.MATCHER_HOTEL_CONTEXT and getattr(index, "live_check_optional", False)


def in_hotel_context(neighbours, owners: dict, query_vec, k: int) -> InContext:
    """`neighbours` ((image id, cosine), best first) re-ranked in hotel context.

    `neighbours` may hold photos hidden since the index last caught up where
    `checks_liveness(get_index())`: none of them is kept."""
    plain = dict(neighbours)
    if not settings.MATCHER_HOTEL_CONTEXT:
        return InContext(list(neighbours), owners, plain)
    ranked = [owners[pk][0] for pk, _ in neighbours if pk in owners]
    turns = np.atleast_2d(np.asarray(query_vec, dtype=np.float32))
    photos = photos_in_context(leading_hotels(ranked, k), turns)
    if photos is None:  # the leading hotels have no live photo left
        if checks_liveness(get_index()):
            gone = not_searchable([pk for pk, _ in neighbours])
            neighbours = [pair for pair in neighbours if pair[0] not in gone]
        return InContext(list(neighbours), owners, plain)
    ids, hotels, chains, cosines, scores = photos
    order = np.lexsort((ids, -scores))
    counted, counts = np.unique(hotels, return_counts=True)
    # Plain Python values through `tolist` (600 photos at 1M: 0.1 ms, not 0.5 element-wise)
    chain_of = [None if chain < 0 else chain for chain in chains.tolist()]
    return InContext(
        neighbours=list(zip(ids[order].tolist(), scores[order].tolist(), strict=True)),
        owners=owners
        | dict(zip(ids.tolist(), zip(hotels.tolist(), chain_of, strict=True), strict=True)),
        cosines=plain | dict(zip(ids.tolist(), cosines.tolist(), strict=True)),
        photo_counts=dict(zip(counted.tolist(), counts.tolist(), strict=True)),
    )


def photos_in_context(hotel_ids: list, turns: np.ndarray):
    """(image ids, hotel ids, chain ids (-1: none), best-turn cosines, best-turn scores in
    context) of the hotels' searchable photos against the (T, D) query turns: from the
    index where it holds them (`SharedIndex`: its mapped snapshot and neighbour table),
    else one database query. None when there are none."""
    if not hotel_ids:
        return None
    index = get_index()
    if hasattr(index, "photos_in_context"):
        found = index.photos_in_context(hotel_ids, turns)
        if found is not None:
            return found if len(found[0]) else None
    rows = searchable_embeddings(IndexState.get().active_version).filter(
        image__submission__hotel_id__in=hotel_ids
    )
    submission = "image__submission__"
    fields = ("image_id", f"{submission}hotel_id", f"{submission}hotel__chain_id", "vector")
    rows = list(rows.values_list(*fields))
    if not rows:
        return None
    hotels = np.array([row[1] for row in rows], dtype=np.int64)
    vectors = stacked_vectors(row[3] for row in rows)
    # einsum, not BLAS: OpenBLAS's threads wait on busy cores (as in `SharedIndex`).
    cosines = np.einsum("nd,td->nt", vectors, turns).max(axis=1)
    scores = blended_cosines(vectors, hotels, turns).max(axis=1)
    return (
        np.array([row[0] for row in rows], dtype=np.int64),
        hotels,
        np.array([-1 if row[2] is None else row[2] for row in rows], dtype=np.int64),
        cosines,
        scores,
    )
