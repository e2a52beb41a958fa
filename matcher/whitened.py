"""The vectors of a learned whitening, as the rest of the matcher sees them.

Below `matcher.learning` (which fits and promotes), so the embedding pipeline and the
search can use a served whitening without importing the training code.
"""

import functools

import numpy as np

from matcher.models import Embedding, IndexState, LearnedWhitening
from retrieval import whitening

PROMOTING = LearnedWhitening.State.PROMOTING
SERVING = LearnedWhitening.State.SERVING
RETIRED = LearnedWhitening.State.RETIRED


def serving_whitening() -> LearnedWhitening | None:
    """The learned whitening the search serves now, if it serves one."""
    return LearnedWhitening.objects.filter(key=IndexState.get().active_version).first()


def raw_version() -> str:
    """The raw descriptor version behind what the search serves."""
    serving = serving_whitening()
    return serving.base_version if serving else IndexState.get().active_version


@functools.lru_cache(maxsize=8)
def map_of(key: str) -> tuple[str, whitening.Whitening] | None:
    """(raw version, map) of whitened version `key`; None for a raw version.

    Cached per process: a key names its map by hash, so what it names never changes
    (and a raw key never becomes a whitening's key), and a search or an upload then
    costs no query and no decoding of the map.
    """
    row = LearnedWhitening.objects.filter(key=key).only("base_version", "data").first()
    return (row.base_version, row.whitening()) if row else None


def store_whitened(image_id: int, version: str, vector: np.ndarray) -> None:
    """With a new raw vector: its whitened copy for every map of that version in use."""
    in_use = LearnedWhitening.objects.filter(base_version=version, state__in=[PROMOTING, SERVING])
    for key in in_use.values_list("key", flat=True):
        mapped = map_of(key)[1].apply(np.asarray(vector)[None])[0]
        Embedding.objects.get_or_create(
            image_id=image_id,
            model_version=key,
            defaults={"dim": len(mapped), "vector": mapped.astype("<f4").tobytes()},
        )
