"""PCA-reduced copies of the gallery vectors: the pgvector HNSW graph at million scale.

Why: over 1280-dim vectors an HNSW graph of a million photos builds for 15 minutes,
searches in ~45 ms and finds only ~76 % of the true top-100 at ef_search 800
(docs/benchmarks.md). Descriptor energy sits in few principal directions, so the
graph is built over `dim`-dim projections instead, searched for a shortlist, and the
shortlist is re-scored with the full float32 vectors in the same SQL statement
(`matcher.indexes.pgvector`): similarities stay exact, only the candidate set is
approximate, and a candidate needs to be in the shortlist, not in the top-k.

- Learned from a random sample of the gallery (unsupervised, no labels): the
  eigenvectors of the uncentred second-moment matrix, i.e. the directions that keep
  most of the dot products; projections are L2-normalised (cosine index).
- Versioned: `Projection.key` = source version + dim + a hash of the matrix; its
  vectors are `Embedding` rows of that version, so the trigger, the partial HNSW index
  and liveness (the join on the image) work as for any version.
- Kept current: `store_embedding` writes the projection with every new vector (same
  transaction); `backfill` fills the rest and sets `complete`; the periodic sweeper
  calls it too, for vectors written by a worker that started before the projection.
"""

import datetime
import hashlib

import numpy as np
from django.db import connection, transaction
from django.db.models import Subquery

from matcher.indexes.sql import pgvector_available, vector_literal
from matcher.models import Embedding, IndexState, Projection, stacked_vectors
from retrieval.pca import fit, project

DEFAULT_DIM = 256
DEFAULT_SAMPLE = 100_000
BACKFILL_CHUNK = 5_000


def projection_key(source_version: str, components: np.ndarray) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(components, dtype="<f4").tobytes()).hexdigest()
    return f"{source_version}|pca{components.shape[1]}:{digest[:8]}"


def create(source_version: str, dim: int, sample: np.ndarray) -> Projection:
    components, kept = fit(sample, dim)
    return Projection.objects.create(
        source_version=source_version,
        key=projection_key(source_version, components),
        dim=dim,
        components=components.astype("<f4").tobytes(),
        explained_variance=kept,
        sample_size=len(sample),
    )


def sample_vectors(version: str, size: int, seed: int = 0) -> np.ndarray:
    """Up to `size` vectors of `version`, drawn uniformly without replacement."""
    ids = np.fromiter(
        Embedding.objects.filter(model_version=version).values_list("id", flat=True), np.int64
    )
    if len(ids) > size:
        ids = np.random.default_rng(seed).choice(ids, size=size, replace=False)
    rows = []
    for start in range(0, len(ids), BACKFILL_CHUNK):
        chunk = ids[start : start + BACKFILL_CHUNK].tolist()
        rows.extend(Embedding.objects.filter(id__in=chunk).values_list("vector", flat=True))
    return stacked_vectors(rows)


_matrices: dict[str, np.ndarray] = {}  # by key: a key names one matrix forever


def matrix_of(projection: Projection) -> np.ndarray:
    if projection.key not in _matrices:
        _matrices[projection.key] = projection.matrix()
    return _matrices[projection.key]


def store_reduced(image_id: int, version: str, vector: np.ndarray) -> None:
    """Write the projections of a new vector of `version` (call inside its transaction)."""
    for projection in Projection.objects.filter(source_version=version):
        reduced = project(vector[None, :], matrix_of(projection))[0]
        Embedding.objects.get_or_create(
            image_id=image_id,
            model_version=projection.key,
            defaults={"dim": projection.dim, "vector": reduced.astype("<f4").tobytes()},
        )


def backfill(projection: Projection, progress=None) -> int:
    """Project every source vector that has no projection yet; then mark it complete.

    Walks the source rows by embedding id, reading (id, image id) pairs and then the
    vectors of just those lacking a projection, so a pass over a complete million
    reads no vectors (17-19 s on 2 cores, most of it checking 200 chunks of image ids;
    the periodic sweep, every 15 min) and an interrupted run resumes where it stopped.
    Returns the rows written.
    """
    components = matrix_of(projection)
    source = Embedding.objects.filter(model_version=projection.source_version)
    written, after = 0, 0
    while pairs := list(
        source.filter(id__gt=after).order_by("id").values_list("id", "image_id")[:BACKFILL_CHUNK]
    ):
        after = pairs[-1][0]
        done = set(
            Embedding.objects.filter(
                model_version=projection.key, image_id__in=[image_id for _, image_id in pairs]
            ).values_list("image_id", flat=True)
        )
        missing = [pk for pk, image_id in pairs if image_id not in done]
        if missing:
            rows = source.filter(id__in=missing).values_list("image_id", "vector")
            image_ids, vectors = zip(*rows, strict=True)
            vectors = stacked_vectors(vectors)
            with transaction.atomic():
                _insert(projection, image_ids, project(vectors, components))
            written += len(image_ids)
        if progress:
            progress(len(pairs))
    # Only a pass that found nothing left may declare the projection complete.
    Projection.objects.filter(pk=projection.pk).update(complete=True)
    return written


def _insert(projection: Projection, image_ids, reduced: np.ndarray) -> None:
    """Insert rows, skipping images that got theirs meanwhile (a worker, another run)."""
    if not pgvector_available():
        Embedding.objects.bulk_create(
            [
                Embedding(
                    image_id=image_id,
                    model_version=projection.key,
                    dim=projection.dim,
                    vector=vector.astype("<f4").tobytes(),
                )
                for image_id, vector in zip(image_ids, reduced, strict=True)
            ],
            ignore_conflicts=True,
        )
        return
    # PostgreSQL: COPY into a scratch table, writing the vector column ourselves (the
    # trigger's SQL decoder would cost ~0.3 ms a row), then one INSERT ... ON CONFLICT.
    table = Embedding._meta.db_table
    now = datetime.datetime.now(datetime.UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS matcher_projection_rows (image_id bigint, "
            "model_version text, dim integer, vector bytea, created_at timestamptz, "
            "embedding vector) ON COMMIT DELETE ROWS"
        )
        columns = "image_id, model_version, dim, vector, created_at, embedding"
        with cursor.copy(f"COPY matcher_projection_rows ({columns}) FROM STDIN") as copy:
            for image_id, vector in zip(image_ids, reduced, strict=True):
                data = vector.astype("<f4").tobytes()
                text = vector_literal(vector)
                copy.write_row((image_id, projection.key, projection.dim, data, now, text))
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM matcher_projection_rows "
            "ON CONFLICT (image_id, model_version) DO NOTHING"
        )


def active_reduction(source_version: str) -> Projection | None:
    """The newest complete projection of `source_version`, if any."""
    return _newest_complete(Projection.objects.filter(source_version=source_version))


def serving() -> tuple[str, Projection | None]:
    """(the active version, its newest complete projection or None).

    One query when the active version has a projection (a million photos and more,
    where every millisecond of a search shows), two otherwise.
    """
    active = IndexState.objects.filter(pk=1).values("active_version")
    reduction = _newest_complete(Projection.objects.filter(source_version=Subquery(active)))
    if reduction is not None:
        return reduction.source_version, reduction
    return IndexState.get().active_version, None


def _newest_complete(projections) -> Projection | None:
    # Without the 1.3 MB matrix: `matrix_of` reads it once per process, not per search.
    return (
        projections.filter(complete=True).defer("components").order_by("-created_at", "-pk").first()
    )
