"""Admin for the hotel catalogue and moderation of traveller photos.

Photos are changed only through the moderation services (approve, hide), so every
field of a stored photo is read-only here. Photos in private storage (held,
quarantined, hidden) are shown through `RoomImageAdmin.photo_view`, to staff who may
view photos only, never cached; a quarantined photo (explicit content) only blurred.
"""

import io

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from PIL import Image, ImageFilter

from rooms.models import BlockedUpload, Chain, Hotel, RoomImage, Submission
from rooms.services import NotApprovable, image_approve, image_hide

BLUR_SIDE = 32  # a quarantined photo is shown from a copy this small, blurred and enlarged
IMAGE_FIELDS = [
    "preview",
    "public_id",
    "moderation",
    "width",
    "height",
    "status",
    "status_reason",
    "status_changed_at",
    "flagged_reason",
    "quarantined",
    "near_duplicate_of",
    "duplicate_hotel",
    "sha256",
    "phash",
    "captured_at",
    "camera_model",
    "created_at",
]


def thumbnail_html(image: RoomImage, size: int = 96):
    if not image.file:
        return "—"
    if image.is_public:
        full, small = image.file.url, image.thumbnail_url
    else:  # private storage: through the moderators' view
        small = reverse("admin:rooms_roomimage_photo", args=[image.pk])
        full = small if image.quarantined else f"{small}?full=1"
    return format_html(
        '<a href="{0}" target="_blank" rel="noopener"><img src="{1}" alt="" loading="lazy" '
        'width="{2}" height="{3}"></a>',
        full,
        small,
        size,
        size * 3 // 4,
    )


def blurred_jpeg(data: bytes) -> bytes:
    """A photo no one can make out: shrunk to BLUR_SIDE, blurred, enlarged again."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (BLUR_SIDE * 4, BLUR_SIDE * 4))
        size = image.size
        tiny = image.convert("RGB")
    tiny.thumbnail((BLUR_SIDE, BLUR_SIDE))
    shown = tiny.filter(ImageFilter.GaussianBlur(3)).resize(size, Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    shown.save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


def moderation_state(image: RoomImage) -> str:
    if image.status == RoomImage.Status.HIDDEN:
        return "hidden"
    if image.quarantined:
        return "quarantined (explicit)"
    if image.is_flagged:
        return "held for a moderator"
    return "published"


@admin.register(Chain)
class ChainAdmin(admin.ModelAdmin):
    list_display = ["name", "hotel_count"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(hotel_count=Count("hotels"))

    @admin.display(description="hotels", ordering="hotel_count")
    def hotel_count(self, chain):
        return chain.hotel_count


@admin.register(Hotel)
class HotelAdmin(admin.ModelAdmin):
    list_display = ["name", "chain", "city", "country_code", "external_ref"]
    list_filter = ["country_code", "chain"]
    search_fields = ["name", "city", "external_ref"]
    list_select_related = ["chain"]
    autocomplete_fields = ["chain"]


class RoomImageInline(admin.TabularInline):
    model = RoomImage
    fields = [
        "preview",
        "public_id",
        "status",
        "flagged_reason",
        "quarantined",
        "near_duplicate_of",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False  # photos arrive through the upload service only

    @admin.display(description="photo")
    def preview(self, image):
        return thumbnail_html(image)


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ["id", "public_id", "hotel", "room_number", "created_at"]
    list_select_related = ["hotel"]
    search_fields = ["hotel__name", "room_number"]
    date_hierarchy = "created_at"
    # Hotel and room as the traveller filed them: moving a photo to another hotel here
    # would skip the cross-hotel duplicate screening.
    readonly_fields = ["public_id", "hotel", "room_number", "created_at"]
    inlines = [RoomImageInline]


class ModerationFilter(admin.SimpleListFilter):
    title = "moderation"
    parameter_name = "moderation"
    STATES = {
        "held": ~Q(flagged_reason="") & Q(quarantined=False) & ~Q(status=RoomImage.Status.HIDDEN),
        "quarantined": Q(quarantined=True) & ~Q(status=RoomImage.Status.HIDDEN),
        "hidden": Q(status=RoomImage.Status.HIDDEN),
        "published": Q(flagged_reason="", quarantined=False) & ~Q(status=RoomImage.Status.HIDDEN),
    }

    def lookups(self, request, model_admin):
        return [
            ("held", "Held for a moderator"),
            ("quarantined", "Quarantined (explicit)"),
            ("hidden", "Hidden"),
            ("published", "Published"),
        ]

    def queryset(self, request, queryset):
        state = self.STATES.get(self.value())
        return queryset.filter(state) if state is not None else queryset


class NearDuplicateFilter(admin.SimpleListFilter):
    title = "near duplicate"
    parameter_name = "near_duplicate"

    def lookups(self, request, model_admin):
        return [("yes", "Near duplicate"), ("no", "Original")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(near_duplicate_of__isnull=self.value() == "no")
        return queryset


@admin.register(RoomImage)
class RoomImageAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "preview",
        "hotel_name",
        "moderation",
        "flagged_reason",
        "duplicate_hotel",
        "status",
        "created_at",
    ]
    list_display_links = ["id", "preview"]
    list_filter = [ModerationFilter, "status", NearDuplicateFilter]
    list_select_related = ["submission__hotel", "near_duplicate_of__submission__hotel"]
    search_fields = ["submission__hotel__name"]
    fields = ["submission", "hotel_name", *IMAGE_FIELDS]
    readonly_fields = fields
    actions = ["approve_images", "hide_images"]

    def has_add_permission(self, request):
        return False  # photos arrive through the upload service only

    def get_urls(self):
        photo = path(
            "<int:object_id>/photo/",
            self.admin_site.admin_view(self.photo_view),
            name="rooms_roomimage_photo",
        )
        return [photo, *super().get_urls()]

    def photo_view(self, request, object_id):
        """A photo wherever it is stored: the thumbnail (`?full=1` the stored copy);
        a quarantined one only blurred. Never cached."""
        image = get_object_or_404(RoomImage, pk=object_id)
        if not self.has_view_permission(request, image):
            raise PermissionDenied
        data = image.stored_bytes(thumbnail=image.quarantined or "full" not in request.GET)
        if image.quarantined:
            data = blurred_jpeg(data)
        response = HttpResponse(data, content_type="image/jpeg")
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response

    @admin.display(description="photo")
    def preview(self, image):
        return thumbnail_html(image)

    @admin.display(description="hotel", ordering="submission__hotel__name")
    def hotel_name(self, image):
        return image.submission.hotel.name

    @admin.display(description="moderation")
    def moderation(self, image):
        return moderation_state(image)

    @admin.display(description="near duplicate's hotel")
    def duplicate_hotel(self, image):
        """The hotel of the photo it repeats, when that is another hotel: both are shown."""
        other = image.near_duplicate_of
        if other is None or other.submission.hotel_id == image.submission.hotel_id:
            return "—"
        return format_html("{} (photo #{})", other.submission.hotel.name, other.pk)

    @admin.action(description="Approve: publish and allow matching", permissions=["change"])
    def approve_images(self, request, queryset):
        approved, refused = 0, []
        for image in queryset:
            try:
                image_approve(image)
                approved += 1
            except NotApprovable as exc:
                refused.append(f"#{image.pk}: {exc}")
        self.message_user(request, f"{approved} image(s) approved.", messages.SUCCESS)
        if refused:
            self.message_user(request, "Not approved: " + "; ".join(refused), messages.WARNING)

    @admin.action(description="Hide: out of search and out of public media", permissions=["change"])
    def hide_images(self, request, queryset):
        for image in queryset:
            image_hide(image, reason=f"hidden by {request.user.get_username()}")
        self.message_user(request, f"{len(queryset)} image(s) hidden.", messages.SUCCESS)


@admin.register(BlockedUpload)
class BlockedUploadAdmin(admin.ModelAdmin):
    """Uploads refused by the abuse hash list, for the operator to report; no image kept."""

    list_display = [
        "created_at",
        "phash",
        "matched_hash",
        "distance",
        "client_address",
        "reported_at",
    ]
    list_filter = [("reported_at", admin.EmptyFieldListFilter)]
    date_hierarchy = "created_at"
    fields = list_display + ["sha256"]
    readonly_fields = fields
    actions = ["mark_reported"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a record for reporting: kept

    @admin.action(description="Mark as reported", permissions=["change"])
    def mark_reported(self, request, queryset):
        count = queryset.filter(reported_at__isnull=True).update(reported_at=timezone.now())
        self.message_user(request, f"{count} record(s) marked reported.", messages.SUCCESS)
