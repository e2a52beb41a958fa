"""The `--reduce DIM` step the index commands share: learn a PCA projection, project all."""

import sys
import time

from django.core.management.base import CommandError
from tqdm import tqdm

from matcher.indexes import projection
from matcher.models import Embedding, Projection


def add_reduce_arguments(parser) -> None:
    parser.add_argument(
        "--reduce",
        type=int,
        metavar="DIM",
        help="index a PCA projection to DIM dims (e.g. 256) instead of the full vectors",
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=projection.DEFAULT_SAMPLE,
        help="vectors the projection is learned from (random, no labels)",
    )


def reduction(command, version: str, reduce: int, sample: int) -> Projection:
    """`version`'s projection to `reduce` dims, learned now if new, then backfilled."""
    dim = Embedding.objects.filter(model_version=version).values_list("dim", flat=True).first()
    if not 0 < reduce < dim:
        raise CommandError(f"--reduce must be between 1 and {dim - 1}")
    reduced = Projection.objects.filter(source_version=version, dim=reduce).first()
    if reduced is None:
        start = time.perf_counter()
        vectors = projection.sample_vectors(version, sample)
        if len(vectors) < reduce:
            raise CommandError(f"{len(vectors)} vectors cannot teach {reduce} directions")
        reduced = projection.create(version, reduce, vectors)
        command.stdout.write(
            f"learned {reduced.key} from {len(vectors)} vectors in "
            f"{time.perf_counter() - start:.0f} s: keeps {reduced.explained_variance:.1%} "
            "of their energy"
        )
    total = Embedding.objects.filter(model_version=version).count()
    start = time.perf_counter()
    with tqdm(total=total, desc="projecting", unit="vec", file=sys.stderr) as bar:
        written = projection.backfill(reduced, progress=bar.update)
    command.stdout.write(f"projected {written} vectors in {time.perf_counter() - start:.0f} s")
    return reduced
