"""`manage.py bench_embed`: embedding throughput, end to end and per stage (not a test).

End to end = what a worker does per photo: read from storage, decode (JPEG draft),
preprocess, CNN forward, pool, store the vector and the status. It runs on synthetic
photos written to a temporary media folder, with database rows created inside a
transaction that is rolled back, so nothing is left behind.
"""

import io
import math
import tempfile
import time

import numpy as np
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.test import override_settings
from PIL import Image, ImageOps

from matcher import embedding
from rooms.models import Hotel, RoomImage, Submission

# 12MP is a phone's original; intake stores it at most 2048 px plus a 512 px thumbnail,
# and the thumbnail is what workers read.
SIZES = {
    "400px": (400, 300),
    "12MP": (4000, 3000),
    "stored 2048px": (2048, 1536),
    "thumbnail 512px (what workers read)": (512, 384),
}


class Rollback(Exception):
    """Raised to undo the benchmark's rows."""


def synthetic_photo(size, seed: int, quality: int = 90) -> bytes:
    """A gradient room-ish picture with sensor-like noise, as a phone JPEG."""
    width, height = size
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    base = 255 * (0.2 + 0.6 * x * rng.random(3) + 0.2 * y * rng.random(3))
    noise = rng.normal(0, 12, (height, width, 3)).astype(np.float32)
    pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def full_decode(data: bytes):
    """The reference: no draft mode."""
    return ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")


def aspect_draft(data: bytes, side: int):
    """Candidate lever: a draft box with the photo's own aspect ratio.

    `load_image` asks for (side, side), so a 4:3 photo must keep >= side pixels on its
    short side too: a 12 MP photo decodes at 1/4 scale (1000x750) where 1/8
    (500x375) still covers the 448x336 the CNN sees.
    """
    image = Image.open(io.BytesIO(data))
    scale = side / max(image.size)
    image.draft("RGB", tuple(math.ceil(n * scale) for n in image.size))
    return ImageOps.exif_transpose(image).convert("RGB")


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:7.1f}/s"


class Command(BaseCommand):
    help = "Benchmark embedding throughput (images/s) end to end and per stage."

    def add_arguments(self, parser):
        parser.add_argument("--images", type=int, default=32, help="photos per measurement")
        parser.add_argument("--batch-sizes", default="1,8,16,32")
        parser.add_argument("--threads", type=int, default=None, help="torch threads")

    def handle(self, *args, images, batch_sizes, threads, **options):
        import torch

        if threads:
            torch.set_num_threads(threads)
        sizes = [int(b) for b in batch_sizes.split(",")]
        if images < 1 or min(sizes) < 1:
            raise CommandError("--images and batch sizes must be at least 1")
        extractor = embedding.get_extractor()
        side = embedding.decode_side(extractor)
        self.stdout.write(
            f"{extractor.version_key}  decode side {side}px  torch threads "
            f"{torch.get_num_threads()}  {images} photos per measurement"
        )
        self.bench_forward(extractor, sizes, images)
        for label, size in SIZES.items():
            photos = [synthetic_photo(size, seed) for seed in range(min(images, 8))]
            photos = [photos[i % len(photos)] for i in range(images)]
            self.bench_decode(label, photos, side)
            self.bench_end_to_end(label, photos, extractor, sizes, side)

    def bench_forward(self, extractor, sizes, count):
        """Pure CNN forward at the search resolution (4:3 landscape)."""
        import torch

        res = extractor.config.resolution
        shape = (3, res * 3 // 4, res)
        self.stdout.write(f"\nmodel forward only, {shape[2]}x{shape[1]}:")
        for batch_size in sizes:
            batch = torch.randn(batch_size, *shape)
            for _ in range(2):  # warm-up: oneDNN builds its kernels per input shape
                extractor.backbone.feature_map(batch)
            runs = max(1, count // batch_size)
            start = time.perf_counter()
            for _ in range(runs):
                extractor.backbone.feature_map(batch)
            self.stdout.write(
                f"  batch {batch_size:3d}: {rate(runs * batch_size, time.perf_counter() - start)}"
            )

    def bench_decode(self, label, photos, side):
        from retrieval.images import load_image

        self.stdout.write(f"\n{label} JPEG q90 ({len(photos[0]) // 1024} KiB), decode per photo:")
        variants = {
            "full decode": full_decode,
            "draft (load_image)": lambda data: load_image(io.BytesIO(data), side),
            "draft, aspect box": lambda data: aspect_draft(data, side),
        }
        for name, decode in variants.items():
            start = time.perf_counter()
            for data in photos:
                decode(data)
            ms = 1000 * (time.perf_counter() - start) / len(photos)
            self.stdout.write(f"  {name:20s} {ms:7.1f} ms")
        self.compare_descriptors(photos[:8], variants)

    def compare_descriptors(self, photos, variants):
        """A lever is kept only if its descriptors match the full decode's (cosine)."""
        extractor = embedding.get_extractor()
        described = {
            name: extractor.describe_images([decode(data) for data in photos])
            for name, decode in variants.items()
        }
        reference = described.pop("full decode")
        for name, vectors in described.items():
            cosine = float(np.mean(np.sum(reference * vectors, axis=1)))
            self.stdout.write(f"  {name:20s} mean cosine to full decode {cosine:.4f}")

    def bench_end_to_end(self, label, photos, extractor, sizes, side):
        self.stdout.write(f"{label} end to end (read, decode, forward, store):")
        with tempfile.TemporaryDirectory() as media, override_settings(MEDIA_ROOT=media):
            try:
                with transaction.atomic():
                    ids = self.create_rows(photos)
                    for batch_size in sizes:
                        self.run_end_to_end(ids, extractor, batch_size, side)
                    raise Rollback
            except Rollback:
                pass

    def run_end_to_end(self, ids, extractor, batch_size, side):
        RoomImage.objects.filter(id__in=ids).update(status=RoomImage.Status.PENDING)
        warm = embedding.decode(embedding.read_stored_bytes(self.first_file(ids)), side)
        extractor.describe_images([warm] * min(batch_size, len(ids)), batch_size=batch_size)
        decode_s = 0.0
        start = time.perf_counter()
        for first in range(0, len(ids), batch_size):
            chunk = ids[first : first + batch_size]
            decode_s += self.time_decode(chunk, side)
            embedding.embed_pending(chunk, extractor=extractor, batch_size=batch_size)
        total = time.perf_counter() - start - decode_s  # the decode probe is not part of it
        embedded = RoomImage.objects.filter(id__in=ids, status=RoomImage.Status.EMBEDDED).count()
        self.stdout.write(
            f"  batch {batch_size:3d}: {rate(embedded, total)}  "
            f"(decode {100 * decode_s / total:4.1f}% of the time)"
        )

    def first_file(self, ids) -> str:
        return embedding.stored_files(ids[:1], RoomImage.Status.PENDING)[ids[0]]

    def time_decode(self, ids, side) -> float:
        """Time the read + decode that embed_pending is about to do for these photos."""
        start = time.perf_counter()
        for name in embedding.stored_files(ids, RoomImage.Status.PENDING).values():
            embedding.decode(embedding.read_stored_bytes(name), side)
        return time.perf_counter() - start

    def create_rows(self, photos) -> list[int]:
        hotel = Hotel.objects.create(
            name="Benchmark", city="Nowhere", country_code="ZZ", latitude=0, longitude=0,
            external_ref="bench-embed-rolled-back",
        )  # fmt: skip
        submission = Submission.objects.create(hotel=hotel, room_number="0")
        ids = []
        for n, data in enumerate(photos):
            width, height = Image.open(io.BytesIO(data)).size
            image = RoomImage(
                submission=submission, sha256=f"{n:064x}", phash="0" * 16, width=width,
                height=height,
            )  # fmt: skip
            image.file.save("bench.jpg", ContentFile(data), save=False)
            image.width, image.height = width, height
            image.save()
            ids.append(image.id)
        return ids
