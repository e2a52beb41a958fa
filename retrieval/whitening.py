"""Learned whitening (Lw) from labelled photos: a linear map fitted in closed form.

Radenović et al.'s learned whitening, fitted from same-hotel photos instead of
landmark pairs: the within-hotel scatter (how photos of one hotel differ: viewpoint,
light, an erased person) is whitened away, then the result is rotated onto its
principal directions. Directions along which photos of one hotel vary count less;
directions that tell hotels apart count more. No backpropagation: fitting 100,000
1280-D vectors is a few matrix products and one eigen-decomposition.

- `shrinkage` blends the within-hotel covariance with a multiple of the identity: a few
  hundred photos cannot estimate 1280 x 1280 entries.
- `power` 0.5 is full whitening; lower is partial (dirtorch uses 0.25).
- Vectors are L2-normalised after the map, so cosine stays the dot product.
"""

import hashlib
import io
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

# Chosen on hotelrooms and Holidays split A (docs/benchmarks.md, "Match quality").
SHRINKAGE = 0.3
POWER = 0.35


@dataclass(frozen=True)
class Whitening:
    mean: np.ndarray  # (D,) float32, subtracted first
    projection: np.ndarray  # (D, d) float32

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """L2-normalised float32 images of `vectors` (..., D) -> (..., d)."""
        mapped = (np.asarray(vectors, dtype=np.float32) - self.mean) @ self.projection
        norms = np.linalg.norm(mapped, axis=-1, keepdims=True)
        return (mapped / np.maximum(norms, 1e-12)).astype(np.float32)

    @property
    def dim(self) -> int:
        return self.projection.shape[1]

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, mean=self.mean, projection=self.projection)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Whitening":
        with np.load(io.BytesIO(data)) as arrays:
            return cls(arrays["mean"].astype(np.float32), arrays["projection"].astype(np.float32))

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for array in (self.mean, self.projection):
            digest.update(np.ascontiguousarray(array, dtype="<f4").tobytes())
        return digest.hexdigest()


def within_scatter(vectors: np.ndarray, labels) -> tuple[np.ndarray, int]:
    """(Σ over labels of the deviations from their mean, outer products; photos used).

    Labels with a single photo say nothing about how a hotel's photos differ: skipped.
    """
    members = defaultdict(list)
    for row, label in enumerate(labels):
        members[label].append(row)
    scatter = np.zeros((vectors.shape[1], vectors.shape[1]))
    used = 0
    for rows in members.values():
        if len(rows) < 2:
            continue
        deviations = vectors[rows] - vectors[rows].mean(axis=0)
        scatter += deviations.T @ deviations
        used += len(rows)
    return scatter, used


def fit(vectors, labels, *, shrinkage=SHRINKAGE, power=POWER, dim=None) -> Whitening:
    """Fit on (N, D) descriptors with a hotel label each; `dim` output dims (default D)."""
    x = np.asarray(vectors, dtype=np.float64)
    if len(x) != len(labels):
        raise ValueError(f"{len(x)} vectors but {len(labels)} labels")
    scatter, used = within_scatter(x, labels)
    if used < 2:
        raise ValueError("learned whitening needs at least one label with two photos")
    covariance = scatter / used
    size = x.shape[1]
    covariance = (1 - shrinkage) * covariance + shrinkage * np.trace(covariance) / size * np.eye(
        size
    )
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    whiten = eigenvectors * np.maximum(eigenvalues, 1e-12) ** -power  # (D, D): V diag(λ^-p)
    mean = x.mean(axis=0)
    whitened = (x - mean) @ whiten
    spread, rotation = np.linalg.eigh(whitened.T @ whitened / len(x))
    rotation = rotation[:, np.argsort(spread)[::-1][: dim or size]]
    return Whitening(mean.astype(np.float32), (whiten @ rotation).astype(np.float32))
