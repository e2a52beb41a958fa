"""Issue 19, the public side: unguessable public ids, receipts, private storage for
photos not fit to publish, quarantine, the hash bands of cross-hotel duplicates and
the record of uploads refused by the abuse-material list.

Existing rows get fresh ids, receipts nobody holds (their status stays with moderators)
and their hash bands. Existing held or hidden photos are moved to private storage by
`manage.py privatise_held_photos` (files are not moved inside a migration).
"""

import hashlib
import secrets
import uuid

import django.db.models.deletion
import rooms.models
import rooms.storage
from django.db import migrations, models


def fill(apps, schema_editor):
    Submission = apps.get_model("rooms", "Submission")
    RoomImage = apps.get_model("rooms", "RoomImage")
    PhashBand = apps.get_model("rooms", "PhashBand")
    for submission in Submission.objects.only("id").iterator():
        digest = hashlib.sha256(secrets.token_urlsafe(24).encode()).hexdigest()
        Submission.objects.filter(id=submission.id).update(
            public_id=uuid.uuid4(), receipt_digest=digest
        )
    for image in RoomImage.objects.only("id", "phash").iterator():
        RoomImage.objects.filter(id=image.id).update(public_id=uuid.uuid4())
        try:
            raw = bytes.fromhex(image.phash)
        except ValueError:
            continue
        if len(raw) == 8:
            PhashBand.objects.bulk_create(
                PhashBand(image_id=image.id, band=band, value=value)
                for band, value in enumerate(raw)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0002_roomimage_thumbnail"),
    ]

    operations = [
        migrations.AddField(
            model_name="submission",
            name="public_id",
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.AddField(
            model_name="submission",
            name="receipt_digest",
            field=models.CharField(
                max_length=64, null=True, editable=False, help_text="SHA-256 of the receipt."
            ),
        ),
        migrations.AddField(
            model_name="roomimage",
            name="public_id",
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.AddField(
            model_name="roomimage",
            name="quarantined",
            field=models.BooleanField(db_index=True, default=False),
        ),
        migrations.AlterField(
            model_name="roomimage",
            name="file",
            field=models.ImageField(
                height_field="height",
                storage=rooms.storage.room_photo_storage,
                upload_to=rooms.models.room_image_path,
                width_field="width",
            ),
        ),
        migrations.AlterField(
            model_name="roomimage",
            name="thumbnail",
            field=models.ImageField(
                blank=True,
                storage=rooms.storage.room_photo_storage,
                upload_to=rooms.models.room_image_path,
            ),
        ),
        migrations.CreateModel(
            name="PhashBand",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("band", models.PositiveSmallIntegerField()),
                ("value", models.PositiveSmallIntegerField()),
                (
                    "image",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="phash_bands",
                        to="rooms.roomimage",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["band", "value"], name="rooms_phash_band_8759ef_idx")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("image", "band"), name="rooms_phashband_one_per_band"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="BlockedUpload",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "phash",
                    models.CharField(
                        help_text="Perceptual hash of the refused photo.", max_length=16
                    ),
                ),
                (
                    "matched_hash",
                    models.CharField(help_text="The list entry it matched.", max_length=16),
                ),
                (
                    "distance",
                    models.PositiveSmallIntegerField(
                        help_text="Bits apart (0 = identical hash)."
                    ),
                ),
                ("sha256", models.CharField(help_text="Of the uploaded bytes.", max_length=64)),
                ("client_address", models.GenericIPAddressField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("reported_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={"ordering": ["-created_at"]},
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="submission",
            name="public_id",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AlterField(
            model_name="submission",
            name="receipt_digest",
            field=models.CharField(
                default=rooms.models.unheld_receipt_digest,
                editable=False,
                help_text="SHA-256 of the receipt.",
                max_length=64,
                unique=True,
            ),
        ),
        migrations.AlterField(
            model_name="roomimage",
            name="public_id",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
    ]
