"""PCA of descriptors without centring: the directions that keep most dot products.

Used to build approximate indexes over short projections (the shortlist is then
re-scored with the full vectors) and by the evaluation's `--reduce`.
"""

import numpy as np


def fit(vectors: np.ndarray, dim: int) -> tuple[np.ndarray, float]:
    """(components (D, dim) float32 with orthonormal columns, share of energy kept)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    if not 0 < dim < vectors.shape[1]:
        raise ValueError(f"dim must be between 1 and {vectors.shape[1] - 1}, not {dim}")
    if len(vectors) < dim:
        raise ValueError(f"{len(vectors)} vectors cannot determine {dim} directions")
    second_moment = vectors.T @ vectors / len(vectors)
    eigenvalues, eigenvectors = np.linalg.eigh(second_moment)  # ascending
    order = np.argsort(eigenvalues)[::-1][:dim]
    components = eigenvectors[:, order]
    components *= np.sign(components[np.abs(components).argmax(axis=0), range(dim)])  # stable
    kept = float(eigenvalues[order].sum() / eigenvalues.sum())
    return components.astype(np.float32), kept


def project(vectors: np.ndarray, components: np.ndarray) -> np.ndarray:
    """L2-normalised projections, float32 (rows of zeros stay zero)."""
    reduced = np.asarray(vectors, dtype=np.float32) @ components
    norms = np.linalg.norm(reduced, axis=-1, keepdims=True)
    return (reduced / np.maximum(norms, 1e-12)).astype(np.float32)
