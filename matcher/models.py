import numpy as np
from django.db import models

from rooms.models import RoomImage


class Embedding(models.Model):
    """One image's global descriptor under one model version (never mixed in an index)."""

    image = models.ForeignKey(RoomImage, on_delete=models.CASCADE, related_name="embeddings")
    model_version = models.CharField(max_length=120)
    dim = models.PositiveIntegerField()
    vector = models.BinaryField(help_text="float32, little-endian, L2-normalised")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["image", "model_version"], name="one_vector_per_version"
            )
        ]
        # A version's (id, image id) pairs without reading its vectors: the in-process
        # indexes list them on every full pass (PostgreSQL: an index-only scan of
        # 165 MB instead of 16 GB of rows at 1M photos; docs/benchmarks-history.md, sixth round).
        indexes = [models.Index(fields=["model_version", "id", "image"], name="embedding_rows")]

    def __str__(self):
        return f"Embedding of image {self.image_id} ({self.model_version})"

    def as_array(self) -> np.ndarray:
        return np.frombuffer(bytes(self.vector), dtype="<f4")


def stacked_vectors(blobs) -> np.ndarray:
    """(N, D) float32 of N stored `Embedding.vector` blobs (little-endian float32)."""
    return np.stack([np.frombuffer(bytes(blob), dtype="<f4") for blob in blobs])


class IndexState(models.Model):
    """Singleton row: which model version the search serves.

    `reembed` fills embeddings for a new version while search keeps serving
    `active_version`; it switches only once every searchable image has one.
    """

    active_version = models.CharField(max_length=120, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Index serving {self.active_version or '(nothing yet)'}"

    @classmethod
    def get(cls) -> "IndexState":
        state, _ = cls.objects.get_or_create(pk=1)
        return state


class LocalFeatureSet(models.Model):
    """One image's SIFT keypoints under one `LocalConfig.version`, for re-ranking searches.

    Written with the image's embedding (same decode, same transaction); the search
    verifies its global top-K against them (`matcher.live_rerank`).
    """

    image = models.ForeignKey(RoomImage, on_delete=models.CASCADE, related_name="local_features")
    version = models.CharField(max_length=120)
    data = models.BinaryField(help_text="retrieval.local_features.LocalFeatures.to_bytes()")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["image", "version"], name="one_local_feature_set_per_version"
            )
        ]

    def __str__(self):
        return f"Local features of image {self.image_id} ({self.version})"


class Projection(models.Model):
    """A PCA projection of one model version's vectors, for the pgvector index at scale.

    Learned from a sample of the gallery (no labels). Its vectors are ordinary
    `Embedding` rows of version `key`, written with every new embedding of
    `source_version`; the search uses them once `complete` (see matcher.indexes.projection).
    """

    source_version = models.CharField(max_length=120, db_index=True)
    key = models.CharField(max_length=120, unique=True)
    dim = models.PositiveIntegerField()
    components = models.BinaryField(help_text="float32 (source dim × dim), little-endian")
    explained_variance = models.FloatField(help_text="share of the sample's energy kept")
    sample_size = models.PositiveIntegerField()
    complete = models.BooleanField(
        default=False, help_text="every vector of the source version has its projection"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"Projection {self.key}"

    def matrix(self) -> np.ndarray:
        source_dim = len(self.components) // (4 * self.dim)
        return np.frombuffer(bytes(self.components), dtype="<f4").reshape(source_dim, self.dim)


class LearnedWhitening(models.Model):
    """A learned whitening of one raw descriptor version, fitted on the gallery's hotels.

    Its vectors are `Embedding` rows of version `key` (= `base_version` + ":lw" + the
    first 8 hex digits of the map's hash), so the index never mixes them with others.
    Trained by `manage.py train_descriptor` (matcher.learning), scored on held-out gallery
    photos, and promoted only when it beats what the search serves.
    """

    class State(models.TextChoices):
        REFUSED = "refused"  # not better than the serving model on the held-out photos
        PROMOTING = "promoting"  # its vectors are being written; the search serves the old
        SERVING = "serving"  # complete; the search serves it
        RETIRED = "retired"  # served until a better one of the same base was promoted

    key = models.CharField(max_length=120, unique=True)
    base_version = models.CharField(max_length=120, db_index=True)
    data = models.BinaryField(help_text="retrieval.whitening.Whitening.to_bytes()")
    params = models.JSONField(default=dict, help_text="shrinkage, power, masked copies")
    photos = models.PositiveIntegerField(help_text="training photos")
    hotels = models.PositiveIntegerField(help_text="training hotels")
    heldout = models.JSONField(default=dict, help_text="hotel top-1 on held-out photos")
    state = models.CharField(max_length=12, choices=State.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"Learned whitening {self.key} ({self.state})"

    def whitening(self):
        from retrieval.whitening import Whitening

        return Whitening.from_bytes(bytes(self.data))
