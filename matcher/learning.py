"""Learning from the gallery's labels: every traveller photo carries its hotel.

`train` fits a learned whitening (`retrieval.whitening`) on the raw vectors the search
is built from, with the hotel of each photo as its label, plus person-erased copies of
a sample of photos (so a masked query lands near its unmasked room), plus the queries
investigators confirmed (`matcher.decisions`; their rejections test the fit). It scores the map
on held-out gallery photos (hotel top-1 of each held-out photo against every other
photo, as a deployed search sees a known hotel) beside the serving model, and promotes
it only when it is better. Promotion (`matcher.tasks.promote`) writes the whitened
vectors in Celery batches (idempotent, resumable: `resume_promotions`) from the stored
raw vectors, without the CNN; the search switches to the new version once every
searchable photo has one.
"""

import logging
from dataclasses import dataclass

import numpy as np
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from matcher import decisions, embedding
from matcher.indexes import searchable_embeddings
from matcher.models import Embedding, IndexState, LearnedWhitening, stacked_vectors
from matcher.whitened import PROMOTING, RETIRED, SERVING, raw_version, serving_whitening
from retrieval import whitening
from retrieval.occlusion import person_mask

logger = logging.getLogger(__name__)

SHRINKAGE, POWER = whitening.SHRINKAGE, whitening.POWER
HELDOUT_SHARE = 0.1  # of the photos of hotels with 3 photos or more
MAX_HELDOUT = 2000  # held-out queries scored (the cost grows with queries x gallery)
MASKED_SAMPLE = 2000  # photos decoded again to fit on their person-erased copies
BATCH = 2000  # photos whitened per Celery task
REFUSED = LearnedWhitening.State.REFUSED


@dataclass
class Gallery:
    image_ids: np.ndarray  # (N,) int64
    hotels: np.ndarray  # (N,) int64
    vectors: np.ndarray  # (N, D) float32, raw (unwhitened)


def gallery(version: str) -> Gallery:
    rows = searchable_embeddings(version).order_by("image_id")
    rows = list(rows.values_list("image_id", "image__submission__hotel_id", "vector"))
    if not rows:
        return Gallery(np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, 0), np.float32))
    return Gallery(
        np.array([row[0] for row in rows], dtype=np.int64),
        np.array([row[1] for row in rows], dtype=np.int64),
        stacked_vectors(row[2] for row in rows),
    )


def heldout_rows(hotels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Rows held out of the fit: a share of each hotel with 3 photos or more (at least 1)."""
    rng = np.random.default_rng(seed)
    held = []
    for hotel in np.unique(hotels):
        rows = np.flatnonzero(hotels == hotel)
        if len(rows) >= 3:
            held.extend(rng.choice(rows, max(1, round(HELDOUT_SHARE * len(rows))), replace=False))
    held = np.array(sorted(held), dtype=np.int64)
    return held if len(held) <= MAX_HELDOUT else np.sort(rng.choice(held, MAX_HELDOUT, False))


def heldout_top1(vectors: np.ndarray, hotels: np.ndarray, held: np.ndarray) -> float:
    """Share of held-out photos whose best match (itself excluded) is of their hotel."""
    similarity = vectors[held] @ vectors.T
    similarity[np.arange(len(held)), held] = -np.inf
    return float(np.mean(hotels[similarity.argmax(axis=1)] == hotels[held]))


def masked_copies(data: Gallery, rows: np.ndarray, extractor) -> tuple[np.ndarray, np.ndarray]:
    """Raw vectors of these photos with a person-shaped area erased, and their hotels."""
    files = embedding.stored_files(data.image_ids[rows].tolist(), embedding.EMBEDDED)
    hotel_of = dict(zip(data.image_ids.tolist(), data.hotels.tolist(), strict=True))
    images, masks, hotels = [], [], []
    for image_id, name in files.items():
        try:
            image = embedding.decode(embedding.read_stored_bytes(name), extractor.network_side)
        except (OSError, embedding.UndecodableImage):
            continue  # a missing or broken file: one copy fewer, not a failed training
        images.append(image)
        masks.append(person_mask(image.size, "medium", seed=f"{image_id}:fit"))
        hotels.append(hotel_of[image_id])
    if not images:
        return np.empty((0, data.vectors.shape[1]), np.float32), np.empty(0, np.int64)
    return extractor.describe_images(images, masks), np.array(hotels, dtype=np.int64)


def train(*, shrinkage=SHRINKAGE, power=POWER, masked_sample=MASKED_SAMPLE, extractor=None):
    """Fit, score and (when better) promote a learned whitening; returns its row."""
    version = raw_version()
    data = gallery(version)
    if len(np.unique(data.hotels)) < 2:
        raise ValueError("the gallery needs photos of at least two hotels to learn from")
    held = heldout_rows(data.hotels)
    train_rows = np.setdiff1d(np.arange(len(data.hotels)), held)
    vectors, labels = data.vectors[train_rows], data.hotels[train_rows]
    if masked_sample:
        sample = np.random.default_rng(1).permutation(train_rows)[:masked_sample]
        copies, copy_hotels = masked_copies(data, sample, extractor or embedding.get_extractor())
        vectors, labels = np.concatenate([vectors, copies]), np.concatenate([labels, copy_hotels])
    decided = decisions.read(lambda: extractor or embedding.get_extractor())
    confirmed, confirmed_hotels, searches = decisions.fit_rows(decided, data.image_ids, data.hotels)
    if len(confirmed):
        vectors = np.concatenate([vectors, confirmed])
        labels = np.concatenate([labels, confirmed_hotels])
    learned = whitening.fit(vectors, labels.tolist(), shrinkage=shrinkage, power=power)
    scores = heldout_scores(data, held, decided, learned)
    better = len(held) > 0 and scores["candidate"] > scores["serving"]
    verdicts = scores.get("decisions")
    if verdicts and verdicts["pairs"] >= decisions.MIN_GATE_PAIRS:  # ordered worse: refused
        better = better and verdicts["candidate"] >= verdicts["serving"]
    params = {"shrinkage": shrinkage, "power": power, "masked_copies": masked_sample}
    row, _ = LearnedWhitening.objects.update_or_create(
        key=f"{version}:lw{learned.sha256[:8]}",
        defaults={
            "base_version": version,
            "data": learned.to_bytes(),
            "params": {**params, "confirmed_queries": len(confirmed), "searches": searches},
            "photos": len(train_rows),
            "hotels": len(np.unique(labels)),
            "heldout": scores,
            "state": PROMOTING if better else REFUSED,
        },
    )
    logger.info("learned whitening %s: held-out top-1 %s (%s)", row.key, scores, row.state)
    return row  # promoting: `matcher.tasks.promote` writes its vectors


def heldout_scores(data: Gallery, held, decided, learned) -> dict:
    """Held-out hotel top-1 of the serving map and the candidate, and (when investigators
    judged held-out queries) how often each orders confirmed photos above rejected."""
    serving = serving_whitening()
    served = serving.whitening().apply if serving else (lambda vectors: vectors)
    scores = {
        "queries": len(held),
        "serving": heldout_top1(served(data.vectors), data.hotels, held),
        "candidate": heldout_top1(learned.apply(data.vectors), data.hotels, held),
    }
    pairs, serving_share = decisions.pair_accuracy(decided, data.image_ids, data.vectors, served)
    if pairs:
        _, share = decisions.pair_accuracy(decided, data.image_ids, data.vectors, learned.apply)
        scores["decisions"] = {"pairs": pairs, "serving": serving_share, "candidate": share}
    return scores


def whiten_range(whitening_id: int, first_image: int, last_image: int) -> int:
    """Write the whitened vectors of the photos in [first, last] that lack one."""
    row = LearnedWhitening.objects.filter(pk=whitening_id, state__in=[PROMOTING, SERVING]).first()
    if row is None:
        return 0
    rows = (
        searchable_embeddings(row.base_version)
        .filter(image_id__gte=first_image, image_id__lte=last_image)
        .exclude(image__embeddings__model_version=row.key)
    )
    pairs = list(rows.values_list("image_id", "vector"))
    if pairs:
        raw = stacked_vectors(vector for _, vector in pairs)
        mapped = row.whitening().apply(raw)
        Embedding.objects.bulk_create(
            [
                Embedding(
                    image_id=image_id,
                    model_version=row.key,
                    dim=len(v),
                    vector=v.astype("<f4").tobytes(),
                )
                for (image_id, _), v in zip(pairs, mapped, strict=True)
            ],
            ignore_conflicts=True,  # a rerun, or the worker storing a new photo, wrote it first
        )
    finish_if_complete(row)
    return len(pairs)


def finish_if_complete(row: LearnedWhitening) -> bool:
    """Serve `row` once every searchable photo of its base version has its vector."""
    if row.state != PROMOTING:
        return row.state == SERVING
    missing = searchable_embeddings(row.base_version).exclude(
        image__embeddings__model_version=row.key
    )
    if missing.exists():
        return False
    same_base = LearnedWhitening.objects.filter(base_version=row.base_version).exclude(pk=row.pk)
    with transaction.atomic():
        IndexState.get()
        served = Q(active_version=row.base_version) | Q(active_version__in=same_base.values("key"))
        IndexState.objects.filter(served, pk=1).update(
            active_version=row.key, updated_at=timezone.now()
        )
        same_base.filter(state=SERVING).update(state=RETIRED)
        LearnedWhitening.objects.filter(pk=row.pk).update(state=SERVING)
    row.state = SERVING
    logger.info("the search now serves %s", row.key)
    return True
