"""Room photos and vectors for the matcher's embedding and index tests."""

import hashlib
import io
import uuid

import numpy as np
from django.core.files.base import ContentFile
from PIL import Image

from conftest import make_image_bytes
from matcher.models import Embedding, IndexState
from rooms.models import RoomImage, Submission


def make_room_image(hotel, content: bytes | None = None, **fields) -> RoomImage:
    """A stored room photo (a real JPEG unless `content` says otherwise), pending by default."""
    content = content if content is not None else make_image_bytes()
    submission = Submission.objects.create(hotel=hotel, room_number="101")
    image = RoomImage(
        submission=submission,
        sha256=hashlib.sha256(content + uuid.uuid4().bytes).hexdigest(),
        phash="0" * 16,
        **fields,
    )
    image.file.save("photo.jpg", ContentFile(content), save=False)
    image.width, image.height = dimensions(content)
    image.save()
    return image


def dimensions(content: bytes) -> tuple[int, int]:
    try:
        return Image.open(io.BytesIO(content)).size
    except OSError:
        return 1, 1  # garbage stands in for a file that broke after intake


def unit_vector(seed: int, dim: int = 8) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


def add_embedding(image, version: str, vector: np.ndarray) -> Embedding:
    vector = np.asarray(vector, dtype="<f4")
    return Embedding.objects.create(
        image=image, model_version=version, dim=len(vector), vector=vector.tobytes()
    )


def set_active(version: str) -> None:
    IndexState.objects.update_or_create(pk=1, defaults={"active_version": version})
