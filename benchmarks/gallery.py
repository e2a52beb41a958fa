"""A synthetic gallery shaped like real descriptors, loaded into the database.

Every vector shares a mean direction (GeM descriptors are non-negative, so unrelated
photos still have cosine ~0.3), hotels are centroids in a 128-dim subspace, and each
hotel's photos scatter around its centroid. Hotels get a country (40, Zipf-weighted),
a city (10 per country), a chain (60 % of hotels, 30 chains) and coordinates near
their city, so filters have the selectivity of a real catalogue. Used by
`manage.py bench_index` and `scripts/bench_*.py`.
"""

import datetime
import struct
import time

import numpy as np
from django.db import connection, transaction

from matcher.models import Embedding, IndexState, Projection
from rooms.models import Chain, Hotel, RoomImage, Submission

PREFIX = "BENCH-"
COUNTRIES = 40
CITIES_PER_COUNTRY = 10
CHAINS = 30
PHOTOS_PER_SUBMISSION = 4
CHUNK = 2_500  # hotels per insert batch (50 000 photos, ~250 MB of vectors)


def zipf_choice(rng, n, size, a=1.1):
    weights = 1 / np.arange(1, n + 1) ** a
    return rng.choice(n, size=size, p=weights / weights.sum())


SPECTRA = ("flat", "decaying")


class Gallery:
    """Deterministic synthetic descriptors: hotel centroids plus per-photo scatter.

    spectrum "flat": every direction of the 128-dim subspace carries the same energy
    (a hard case: no dominant directions, so the top-100 is a crowd of near-ties).
    "decaying": direction i carries energy ∝ 1/(i+1), which puts ~50 % of the
    energy in 10 directions as measured on real Lite0 descriptors (Holidays: 30 %
    in 1, 50 % in 10, 84 % in 128 principal directions; flat gives 16 / 25 / 90 %).
    """

    def __init__(self, dim: int, n_hotels: int, seed: int = 0, spectrum: str = "flat"):
        rng = np.random.default_rng(seed)
        self.dim, self.seed = dim, seed
        self.mean = unit(np.abs(rng.normal(size=dim)))
        self.basis = rng.normal(size=(128, dim)).astype(np.float32) / np.sqrt(128)
        if spectrum == "decaying":
            energy = 1 / np.arange(1, 129)
            self.basis *= np.sqrt(128 * energy / energy.sum()).astype(np.float32)[:, None]
        self.centroids = unit(rng.normal(size=(n_hotels, 128)).astype(np.float32) @ self.basis)

    def photos(self, hotel_ids: np.ndarray, seed: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, seed])
        n = len(hotel_ids)
        view = unit(rng.normal(size=(n, 128)).astype(np.float32) @ self.basis)
        noise = unit(rng.normal(size=(n, self.dim)).astype(np.float32))
        x = 0.6 * self.mean + self.centroids[hotel_ids] + 0.8 * view + 0.5 * noise
        return unit(x).astype(np.float32)


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def load_gallery(n: int, dim: int, per_hotel: int, spectrum: str, say=print) -> Gallery:
    """The gallery of `n` photos in the database (reused when already loaded), active."""
    version = f"bench:synthetic:n{n}:d{dim}" + ("" if spectrum == "flat" else f":{spectrum}")
    n_hotels = n // per_hotel
    gallery = Gallery(dim, n_hotels, spectrum=spectrum)
    if Embedding.objects.filter(model_version=version).count() == n_hotels * per_hotel:
        say(f"\n== {n} images: reusing the loaded gallery ({version})")
    else:
        say(f"\n== {n} images: loading {n_hotels} hotels of {per_hotel} photos")
        start = time.perf_counter()
        clear()
        insert(gallery, version, n_hotels, per_hotel)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # fresh statistics, as autovacuum would give later
        say(f"   loaded in {time.perf_counter() - start:.0f} s")
    IndexState.objects.update_or_create(pk=1, defaults={"active_version": version})
    return gallery


def clear():
    Embedding.objects.all().delete()
    RoomImage.objects.all().delete()
    Submission.objects.all().delete()
    Hotel.objects.all().delete()
    Chain.objects.filter(name__startswith=PREFIX).delete()
    Projection.objects.all().delete()


def insert(gallery, version, n_hotels, per_hotel):
    rng = np.random.default_rng(1)
    chains = Chain.objects.bulk_create(Chain(name=f"{PREFIX}{c}") for c in range(CHAINS))
    country = zipf_choice(rng, COUNTRIES, n_hotels)
    city = zipf_choice(rng, CITIES_PER_COUNTRY, n_hotels)
    chain = zipf_choice(rng, CHAINS, n_hotels)
    in_chain = rng.random(n_hotels) < 0.6
    city_lat = rng.uniform(-50, 60, (COUNTRIES, CITIES_PER_COUNTRY))
    city_lon = rng.uniform(-170, 170, (COUNTRIES, CITIES_PER_COUNTRY))
    lat = city_lat[country, city] + rng.normal(0, 0.1, n_hotels)
    lon = city_lon[country, city] + rng.normal(0, 0.1, n_hotels)
    for start in range(0, n_hotels, CHUNK):
        with transaction.atomic():
            hotels = Hotel.objects.bulk_create(
                Hotel(
                    name=f"Hotel {h}",
                    chain=chains[chain[h]] if in_chain[h] else None,
                    city=f"City {country[h]}-{city[h]}",
                    country_code=country_code(country[h]),
                    latitude=float(lat[h]),
                    longitude=float(lon[h]),
                    external_ref=f"{PREFIX}{h}",
                )
                for h in range(start, min(n_hotels, start + CHUNK))
            )
            insert_photos(gallery, version, hotels, start, per_hotel)


def insert_photos(gallery, version, hotels, first_hotel, per_hotel):
    per_submission = min(PHOTOS_PER_SUBMISSION, per_hotel)
    submissions = Submission.objects.bulk_create(
        Submission(hotel=hotel, room_number=str(s))
        for hotel in hotels
        for s in range(-(-per_hotel // per_submission))
    )
    by_hotel = len(submissions) // len(hotels)
    images = RoomImage.objects.bulk_create(
        RoomImage(
            submission=submissions[h * by_hotel + p // per_submission],
            file=f"rooms/bench/{hotel.pk}-{p}.jpg",
            width=640,
            height=480,
            sha256=f"{hotel.pk:032d}{p:032d}",
            phash="0" * 16,
            status=RoomImage.Status.EMBEDDED,
        )
        for h, hotel in enumerate(hotels)
        for p in range(per_hotel)
    )
    hotel_index = np.repeat(np.arange(first_hotel, first_hotel + len(hotels)), per_hotel)
    vectors = gallery.photos(hotel_index, seed=first_hotel)
    write_vectors(version, [image.pk for image in images], vectors)


def country_code(i: int) -> str:
    return chr(65 + i // 26) + chr(65 + i % 26)


def write_vectors(version, image_ids, vectors):
    now = datetime.datetime.now(datetime.UTC)
    dim = vectors.shape[1]
    if connection.vendor == "postgresql" and has_embedding_column():
        copy_vectors(version, image_ids, vectors, now)
        return
    table = Embedding._meta.db_table
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} (image_id, model_version, dim, vector, created_at) "
            "VALUES (%s, %s, %s, %s, %s)",
            [
                (pk, version, dim, vector.astype("<f4").tobytes(), now)
                for pk, vector in zip(image_ids, vectors, strict=True)
            ],
        )


def has_embedding_column() -> bool:
    from matcher.indexes.sql import pgvector_available

    return pgvector_available()


PG_EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


def copy_vectors(version, image_ids, vectors, now):
    """Binary COPY writing `vector` and `embedding` together (the trigger then skips)."""
    dim = vectors.shape[1]
    micros = int((now - PG_EPOCH).total_seconds() * 1_000_000)
    version_bytes = version.encode()
    fixed = (
        struct.pack(">i", len(version_bytes))
        + version_bytes
        + struct.pack(">ii", 4, dim)
        + struct.pack(">i", 4 * dim)
    )
    tail = struct.pack(">iq", 8, micros) + struct.pack(">ihh", 4 + 4 * dim, dim, 0)
    columns = "image_id, model_version, dim, vector, created_at, embedding"
    raw = connection.connection  # psycopg 3 connection under Django's wrapper
    with (
        raw.cursor() as cursor,
        cursor.copy(
            f"COPY {Embedding._meta.db_table} ({columns}) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy,
    ):
        copy.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
        for pk, vector in zip(image_ids, vectors, strict=True):
            copy.write(
                struct.pack(">hiq", 6, 8, pk)
                + fixed
                + vector.astype("<f4").tobytes()
                + tail
                + vector.astype(">f4").tobytes()
            )
        copy.write(struct.pack(">h", -1))
