"""Admin for the hotel catalogue and moderation of traveller photos.

Photos are changed only through the moderation services (hide, clear the person
flag), so every field of a stored photo is read-only here.
"""

from django.contrib import admin, messages
from django.db.models import Count
from django.utils.html import format_html

from rooms.models import Chain, Hotel, RoomImage, Submission
from rooms.services import image_clear_flag, image_hide

IMAGE_FIELDS = [
    "preview",
    "file",
    "width",
    "height",
    "status",
    "status_reason",
    "status_changed_at",
    "flagged_reason",
    "near_duplicate_of",
    "sha256",
    "phash",
    "captured_at",
    "camera_model",
    "created_at",
]


def thumbnail_html(image: RoomImage, size: int = 96):
    if not image.file:
        return "—"
    return format_html(
        '<a href="{0}" target="_blank" rel="noopener"><img src="{1}" alt="" loading="lazy" '
        'style="max-width:{2}px;max-height:{2}px;object-fit:cover"></a>',
        image.file.url,
        image.thumbnail_url,
        size,
    )


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
    fields = ["preview", "status", "flagged_reason", "near_duplicate_of"]
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
    list_display = ["id", "hotel", "room_number", "created_at"]
    list_select_related = ["hotel"]
    search_fields = ["hotel__name", "room_number"]
    date_hierarchy = "created_at"
    raw_id_fields = ["hotel"]
    readonly_fields = ["created_at"]
    inlines = [RoomImageInline]


class FlaggedFilter(admin.SimpleListFilter):
    title = "person flag"
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return [("yes", "Flagged"), ("no", "Not flagged")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(flagged_reason="")
        if self.value() == "no":
            return queryset.filter(flagged_reason="")
        return queryset


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
    list_display = ["id", "preview", "hotel_name", "status", "flagged_reason", "created_at"]
    list_display_links = ["id", "preview"]
    list_filter = ["status", FlaggedFilter, NearDuplicateFilter]
    list_select_related = ["submission__hotel"]
    search_fields = ["submission__hotel__name"]
    fields = ["submission", *IMAGE_FIELDS]
    readonly_fields = fields
    actions = ["hide_images", "clear_person_flag"]

    def has_add_permission(self, request):
        return False  # photos arrive through the upload service only

    @admin.display(description="photo")
    def preview(self, image):
        return thumbnail_html(image)

    @admin.display(description="hotel", ordering="submission__hotel__name")
    def hotel_name(self, image):
        return image.submission.hotel.name

    @admin.action(description="Hide selected images", permissions=["change"])
    def hide_images(self, request, queryset):
        for image in queryset:
            image_hide(image, reason=f"hidden by {request.user.get_username()}")
        self.message_user(request, f"{len(queryset)} image(s) hidden.", messages.SUCCESS)

    @admin.action(description="Clear person flag", permissions=["change"])
    def clear_person_flag(self, request, queryset):
        flagged = [image for image in queryset if image.is_flagged]
        for image in flagged:
            image_clear_flag(image)
        self.message_user(request, f"Flag cleared on {len(flagged)} image(s).", messages.SUCCESS)
