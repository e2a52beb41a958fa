import hashlib
import secrets
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy

from rooms.storage import PRIVATE_PREFIX, is_private, room_photo_storage

country_code_validator = RegexValidator(
    r"^[A-Z]{2}$", gettext_lazy("Use a two-letter ISO 3166 country code.")
)


class Chain(models.Model):
    name = models.CharField(max_length=200, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


# The hold on photos uploaded into a hotel a traveller proposed (rooms/proposals.py).
PROPOSED_HOTEL_REASON = "hotel proposed by the traveller"


class Hotel(models.Model):
    class Status(models.TextChoices):
        LISTED = "listed"
        # Proposed by a traveller ("my hotel is not listed"): its photos stay held until a
        # moderator approves the hotel or merges it into a listed one.
        PROPOSED = "proposed"

    name = models.CharField(max_length=200, db_index=True)
    chain = models.ForeignKey(
        Chain, null=True, blank=True, on_delete=models.SET_NULL, related_name="hotels"
    )
    address = models.CharField(max_length=300, blank=True)
    city = models.CharField(max_length=120, db_index=True)
    country_code = models.CharField(
        max_length=2, validators=[country_code_validator], db_index=True
    )
    latitude = models.FloatField(validators=[MinValueValidator(-90), MaxValueValidator(90)])
    longitude = models.FloatField(validators=[MinValueValidator(-180), MaxValueValidator(180)])
    external_ref = models.CharField(
        max_length=100, unique=True, help_text="Identifier in the source catalogue (import key)."
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.LISTED, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["latitude", "longitude"])]

    def __str__(self):
        return f"{self.name} ({self.city})"


def new_receipt() -> str:
    """A traveller's receipt: the only key to their submission's status (192 random bits)."""
    return secrets.token_urlsafe(24)


def digest_of_receipt(receipt: str) -> str:
    # Only the digest is stored: the database alone opens no submission's status.
    return hashlib.sha256(receipt.encode()).hexdigest()


def unheld_receipt_digest() -> str:
    """The default: the digest of a receipt no one was given (demo data, old rows)."""
    return digest_of_receipt(new_receipt())


class Submission(models.Model):
    """One traveller's visit: a hotel, a room number and 1 to 4 photos.

    Addressed publicly only by `public_id` (the thank-you page) and by the receipt
    given to the traveller (the status API); the integer id stays internal.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    receipt_digest = models.CharField(
        max_length=64,
        unique=True,
        editable=False,
        default=unheld_receipt_digest,
        help_text="SHA-256 of the receipt.",
    )
    hotel = models.ForeignKey(Hotel, on_delete=models.PROTECT, related_name="submissions")
    room_number = models.CharField(max_length=20)
    # Chosen by the traveller's browser once per submission: a retried send after a
    # dropped connection finds the submission already stored instead of making a second.
    client_token = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.hotel} room {self.room_number}"


def room_image_path(instance, filename):
    # Random names: nothing about the traveller or the original file leaks into URLs.
    # A photo not fit to publish (held, quarantined, hidden) is written privately.
    name = f"rooms/{uuid.uuid4().hex[:2]}/{uuid.uuid4().hex}.jpg"
    return name if instance.publishable else PRIVATE_PREFIX + name


class RoomImage(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        EMBEDDING = "embedding"
        EMBEDDED = "embedded"
        FAILED = "failed"
        HIDDEN = "hidden"

    # The public id: the int id stays internal (the vector indexes label photos by it).
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="images")
    # The stored copy: EXIF orientation applied, every metadata field stripped. Public
    # media only while `publishable`, private storage otherwise (rooms/storage.py).
    file = models.ImageField(
        upload_to=room_image_path,
        storage=room_photo_storage,
        width_field="width",
        height_field="height",
    )
    # A 512 px copy: what the matcher decodes (a 2048 px JPEG costs ~15 ms to decode,
    # this ~1.5 ms) and what result pages show as thumbnails.
    thumbnail = models.ImageField(upload_to=room_image_path, storage=room_photo_storage, blank=True)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64, unique=True, help_text="Of the uploaded bytes.")
    phash = models.CharField(max_length=16, db_index=True, help_text="Perceptual hash (hex).")
    near_duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="near_duplicates"
    )
    # Moderation: photos that seem to show a person, or repeat a photo filed under
    # another hotel, wait for a moderator before they are matched or published.
    flagged_reason = models.CharField(max_length=200, blank=True)
    # Explicit content: never published; moderators see it blurred only.
    quarantined = models.BooleanField(default=False, db_index=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    status_reason = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(auto_now=True, db_index=True)
    # The last moderation decision (approve or hide) on a flagged photo: who and when.
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # Private: kept for analysts, never served.
    captured_at = models.DateTimeField(null=True, blank=True)
    camera_model = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The searchable photos by id (`matcher.indexes.live_images`): a search asks
            # which of ~600 ids are still live, answered from this index alone (an index-
            # only scan, no table row read: 1.0 ms against 2.3 at 1M on PostgreSQL).
            models.Index(
                fields=["id"],
                condition=models.Q(status="embedded", flagged_reason=""),
                name="rooms_roomimage_live",
            )
        ]

    def __str__(self):
        return f"Image {self.pk} of {self.submission}"

    @property
    def hotel(self):
        return self.submission.hotel

    @property
    def thumbnail_url(self) -> str | None:
        return self.thumbnail_url_of(self.file.name, self.thumbnail.name)

    @classmethod
    def thumbnail_url_of(cls, file: str, thumbnail: str) -> str | None:
        """The thumbnail's public URL, else the photo's, from the stored names (lists of
        results read them as plain values, without building the model); None while the
        photo is in private storage."""
        field, name = ("thumbnail", thumbnail) if thumbnail else ("file", file)
        if is_private(name):
            return None
        return cls._meta.get_field(field).storage.url(name)

    @property
    def is_flagged(self) -> bool:
        return bool(self.flagged_reason)

    @property
    def publishable(self) -> bool:
        """May its files be in public media: not held, quarantined or hidden."""
        return not (self.is_flagged or self.quarantined or self.status == self.Status.HIDDEN)

    @property
    def is_public(self) -> bool:
        """Are its files in public media now."""
        return bool(self.file.name) and not is_private(self.file.name)

    def stored_bytes(self, *, thumbnail: bool = True) -> bytes:
        """The stored thumbnail's (else the photo's) bytes, wherever they are kept."""
        field = self.thumbnail if thumbnail and self.thumbnail else self.file
        with field.storage.open(field.name, "rb") as stored:
            return stored.read()


class PhashBand(models.Model):
    """One byte of a photo's perceptual hash, indexed: how a near duplicate is found
    anywhere in the gallery without reading every hash.

    Two 64-bit hashes at most 7 bits apart share at least one of their 8 bytes
    (pigeonhole); at most 6 apart (`services.NEAR_DUPLICATE_MAX_DISTANCE`), at least
    two. Candidates sharing two bytes are then measured exactly.
    """

    image = models.ForeignKey(RoomImage, on_delete=models.CASCADE, related_name="phash_bands")
    band = models.PositiveSmallIntegerField()  # 0..7, the byte's position
    value = models.PositiveSmallIntegerField()  # 0..255

    class Meta:
        indexes = [models.Index(fields=["band", "value"])]
        constraints = [
            models.UniqueConstraint(fields=["image", "band"], name="rooms_phashband_one_per_band")
        ]

    def __str__(self):
        return f"byte {self.band} = {self.value:02x} of image {self.image_id}"

    @staticmethod
    def bands_of(phash: str) -> list[tuple[int, int]]:
        """[(band, value)] of a 16-hex-digit hash; [] for a malformed one."""
        try:
            raw = bytes.fromhex(phash)
        except ValueError:
            return []
        return list(enumerate(raw)) if len(raw) == 8 else []


class BlockedUpload(models.Model):
    """An upload refused because a photo matched the operator's list of known abuse
    material (UPLOAD_BLOCKLIST_FILE). No image is kept: the hashes, when and from where,
    for the operator to report."""

    phash = models.CharField(max_length=16, help_text="Perceptual hash of the refused photo.")
    matched_hash = models.CharField(max_length=16, help_text="The list entry it matched.")
    distance = models.PositiveSmallIntegerField(help_text="Bits apart (0 = identical hash).")
    sha256 = models.CharField(max_length=64, help_text="Of the uploaded bytes.")
    client_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    reported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Blocked upload {self.phash} at {self.created_at:%Y-%m-%d %H:%M}"
