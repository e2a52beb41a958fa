"""Why a shown photo matched: heat maps and correspondences for one revision's match.

Computed on demand from the stored query photo and the revision's mask and region
(the network pass and RANSAC: `matcher.services`), drawn by `retrieval.heatmaps`.
Only the numbers are cached (cell maps, point pairs; never a picture of the query),
for an hour, keyed by search, revision and photo, so flipping between a match's
images costs one network pass, and nothing derived from a victim's photo outlives
the search in the cache by more than that hour.
"""

import io

import numpy as np
from django.core.cache import cache
from django.core.files.base import ContentFile
from PIL import Image

from investigations.previews import upright_size
from investigations.query import prepare_query
from matcher.services import VisualQuery, explain_match, gallery_photo, match_correspondences
from retrieval import heatmaps

CACHE_SECONDS = 3600
OVERLAY_LONG_SIDE = 1024  # heat-map layers: the compare view scales them to the photo
SIDES = ("pair", "query", "gallery")


class NotAMatch(LookupError):
    """The photo is not among the revision's shown matches."""


def _shown_match(revision, image_id) -> dict:
    for hotel in revision.hotels:
        for match in hotel["matches"]:
            if match["image_id"] == image_id:
                return match
    raise NotAMatch(f"photo {image_id} is not a match of revision {revision.number}")


def _stored(field_file, name):
    with field_file.open("rb") as fh:
        return ContentFile(fh.read(), name=name)


class MaskNotKept(LookupError):
    """The revision erased something but its mask file was not kept (older searches):
    drawing from the unerased photo would show what the investigator erased."""


def revision_query(search, revision):
    """The revision's query as the search prepared it (upright, cropped, erased grey)."""
    if revision.mask_sha256 and not revision.query_mask.name:
        raise MaskNotKept("this revision's mask was not kept: its evidence cannot be drawn")
    mask = _stored(revision.query_mask, "mask.png") if revision.query_mask.name else None
    region = ",".join(str(v) for v in revision.region) if revision.region else None
    return prepare_query(_stored(search.query_image, "query"), mask, region)


def _cached(kind, search, revision, image_id, compute):
    key = f"evidence:{kind}:{search.pk}:{revision.number}:{image_id}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, CACHE_SECONDS)
    return value


def heatmap_png(search, revision, image_id: int, side: str) -> bytes:
    """PNG for `side`: "pair" (both photos with their maps, side by side), or the RGBA
    layer of "query" (the full upright photo's frame) or "gallery" alone.

    Raises NotAMatch, `matcher.services.MatchGone`, or `retrieval.explain.NotDecomposable`.
    """
    if side not in SIDES:
        raise ValueError(f"side must be one of {', '.join(SIDES)}")
    match = _shown_match(revision, image_id)
    prepared = revision_query(search, revision)

    def compute():
        query = VisualQuery(prepared.image, prepared.mask)
        explanation, _ = explain_match(query, image_id, match.get("cosine"))
        return explanation.query_cells, explanation.gallery_cells, explanation.score

    query_cells, gallery_cells, _ = _cached("cells", search, revision, image_id, compute)
    if side == "query":
        return _png(_query_layer(query_cells, prepared))
    gallery = gallery_photo(image_id)
    if side == "gallery":
        return _png(heatmaps.overlay(gallery_cells, _bounded(gallery.size)))
    # Drawn at the pair's height: compositing a phone photo at full size cost ~50 ms.
    query_small, erased = _at_pair_height(prepared.image, prepared.mask)
    gallery_small, _ = _at_pair_height(gallery)
    return _png(
        heatmaps.side_by_side(
            heatmaps.composite(query_small, query_cells, erased),
            heatmaps.composite(gallery_small, gallery_cells),
        )
    )


def _at_pair_height(image, mask=None):
    """The photo (and mask) reduced to about the side-by-side height, never enlarged."""
    scale = min(1.0, heatmaps.PAIR_HEIGHT / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if mask is None:
        return image.resize(size, Image.BILINEAR, reducing_gap=2.0), None
    small_mask = Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255).resize(size)
    return image.resize(size, Image.BILINEAR, reducing_gap=2.0), np.asarray(small_mask) > 127


def _query_layer(cells, prepared) -> Image.Image:
    """The query's heat layer in the frame of the full upright photo (the region placed)."""
    if not prepared.region:
        return heatmaps.overlay(cells, _bounded(prepared.image.size), prepared.mask)
    full = upright_size(io.BytesIO(prepared.data))
    scale = min(1.0, OVERLAY_LONG_SIDE / max(full))
    x, y, w, h = (round(v * scale) for v in prepared.region)
    layer = Image.new("RGBA", (round(full[0] * scale), round(full[1] * scale)), (0, 0, 0, 0))
    layer.paste(heatmaps.overlay(cells, (max(1, w), max(1, h)), prepared.mask), (x, y))
    return layer


def _pairs(search, revision, image_id, prepared) -> np.ndarray:
    def compute():
        query = VisualQuery(prepared.image, prepared.mask)
        return match_correspondences(query, image_id).pairs

    return _cached("pairs", search, revision, image_id, compute)


def correspondences(search, revision, image_id: int) -> dict:
    """{"inliers", "pairs"}: point pairs normalised to the full upright query photo and
    the gallery photo (the region's offset added back)."""
    _shown_match(revision, image_id)
    prepared = revision_query(search, revision)
    pairs = _pairs(search, revision, image_id, prepared)
    return {"inliers": len(pairs), "pairs": _in_full_photo(pairs, prepared).round(5).tolist()}


def _in_full_photo(pairs, prepared) -> np.ndarray:
    pairs = np.array(pairs, dtype=np.float64).reshape(-1, 4)
    if prepared.region and len(pairs):
        width, height = upright_size(io.BytesIO(prepared.data))
        x, y, w, h = prepared.region
        pairs[:, 0] = (x + pairs[:, 0] * w) / width
        pairs[:, 1] = (y + pairs[:, 1] * h) / height
    return pairs


def correspondences_png(search, revision, image_id: int) -> bytes:
    """Both photos side by side (the query cropped and erased as searched), a line per
    inlier pair."""
    _shown_match(revision, image_id)
    prepared = revision_query(search, revision)
    pairs = _pairs(search, revision, image_id, prepared)
    query_small, _ = _at_pair_height(prepared.image)
    return _png(heatmaps.correspondences(query_small, gallery_photo(image_id), pairs))


def _bounded(size) -> tuple[int, int]:
    scale = min(1.0, OVERLAY_LONG_SIDE / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _png(image: Image.Image) -> bytes:
    """PNG through OpenCV's encoder, run-length strategy: on these drawings about a third
    faster than Pillow's at level 1, and smaller (a page asks for several at once)."""
    import cv2

    if image.mode == "RGBA":
        pixels = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGBA2BGRA)
    else:
        pixels = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)
    options = [
        cv2.IMWRITE_PNG_COMPRESSION,
        3,
        cv2.IMWRITE_PNG_STRATEGY,
        cv2.IMWRITE_PNG_STRATEGY_RLE,
    ]
    return cv2.imencode(".png", pixels, options)[1].tobytes()
