import uuid

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

country_code_validator = RegexValidator(r"^[A-Z]{2}$", "Use a two-letter ISO 3166 country code.")


class Chain(models.Model):
    name = models.CharField(max_length=200, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Hotel(models.Model):
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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["latitude", "longitude"])]

    def __str__(self):
        return f"{self.name} ({self.city})"


class Submission(models.Model):
    """One traveller's visit: a hotel, a room number and 1 to 4 photos."""

    hotel = models.ForeignKey(Hotel, on_delete=models.PROTECT, related_name="submissions")
    room_number = models.CharField(max_length=20)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.hotel} room {self.room_number}"


def room_image_path(instance, filename):
    # Random names: nothing about the traveller or the original file leaks into URLs.
    return f"rooms/{uuid.uuid4().hex[:2]}/{uuid.uuid4().hex}.jpg"


class RoomImage(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        EMBEDDING = "embedding"
        EMBEDDED = "embedded"
        FAILED = "failed"
        HIDDEN = "hidden"

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="images")
    # The stored copy: EXIF orientation applied, every metadata field stripped.
    file = models.ImageField(upload_to=room_image_path, width_field="width", height_field="height")
    # A 512 px copy: what the matcher decodes (a 2048 px JPEG costs ~15 ms to decode,
    # this ~1.5 ms) and what result pages show as thumbnails.
    thumbnail = models.ImageField(upload_to=room_image_path, blank=True)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64, unique=True, help_text="Of the uploaded bytes.")
    phash = models.CharField(max_length=16, db_index=True, help_text="Perceptual hash (hex).")
    near_duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="near_duplicates"
    )
    # Moderation: photos that seem to show a person wait for a moderator before matching.
    flagged_reason = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    status_reason = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(auto_now=True, db_index=True)
    # Private: kept for analysts, never served.
    captured_at = models.DateTimeField(null=True, blank=True)
    camera_model = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Image {self.pk} of {self.submission}"

    @property
    def hotel(self):
        return self.submission.hotel

    @property
    def thumbnail_url(self) -> str:
        return self.thumbnail_url_of(self.file.name, self.thumbnail.name)

    @classmethod
    def thumbnail_url_of(cls, file: str, thumbnail: str) -> str:
        """The thumbnail's URL, else the photo's, from the stored names (lists of results
        read them as plain values, without building the model)."""
        field, name = ("thumbnail", thumbnail) if thumbnail else ("file", file)
        return cls._meta.get_field(field).storage.url(name)

    @property
    def is_flagged(self) -> bool:
        return bool(self.flagged_reason)
