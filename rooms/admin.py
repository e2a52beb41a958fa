"""Admin for the hotel catalogue and moderation of traveller photos.

Photos are changed only through the moderation services (approve, hide), so every
field of a stored photo is read-only here. Photos in private storage (held,
quarantined, hidden) are shown through `RoomImageAdmin.photo_view`, to staff who may
view photos only, never cached; a quarantined photo (explicit content) only blurred.

Moderators work through a queue (`AWAITING_REVIEW`, the "To review" filter, oldest
first, counted on the admin home): a photo's page shows it large with Approve and Hide
(keys in rooms/static/rooms/admin/moderation.js) and moves on to the next photo waiting.
Each decision records who and when (`reviewed_by`, `reviewed_at`) and goes into the
admin's history. Hotels proposed by travellers are approved or merged from the Hotel
list (rooms/proposals.py).
"""

import io
from urllib.parse import urlencode, urlsplit

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from PIL import Image, ImageFilter

from rooms.models import BlockedUpload, Chain, Hotel, RoomImage, Submission
from rooms.proposals import PROPOSED_HOTEL_REASON, NotMergeable, approve_hotel, merge_hotel
from rooms.services import NotApprovable, image_approve, image_hide

BLUR_SIDE = 32  # a quarantined photo is shown from a copy this small, blurred and enlarged
LIST_THUMBNAIL = 200  # px wide in the photo list: big enough to judge a room by
CHANGE_PREVIEW = 640  # px wide on a photo's page (at most the page's width)
IMAGE_FIELDS = [
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
    "reviewed_by",
    "reviewed_at",
    "sha256",
    "phash",
    "captured_at",
    "camera_model",
    "created_at",
]


# Waiting for a moderator: held (a person seen, the same photo filed under another
# hotel) or quarantined (explicit), and not decided yet. A near duplicate within its own
# hotel is a re-shot room, linked but not held (services._store_images): not waiting.
# Nor is a photo held only because its hotel is a traveller's proposal: the hotel's
# approval or merge releases it (rooms/proposals.py), from the proposed hotels' list.
AWAITING_REVIEW = (
    (~Q(flagged_reason="") | Q(quarantined=True))
    & ~Q(flagged_reason=PROPOSED_HOTEL_REASON, quarantined=False)
    & Q(reviewed_at__isnull=True)
    & ~Q(status=RoomImage.Status.HIDDEN)
)
QUEUE_ORDER = ["created_at", "id"]  # oldest first: the longest wait is decided first


def review_queue():
    return RoomImage.objects.filter(AWAITING_REVIEW).order_by(*QUEUE_ORDER)


def queue_neighbour(image: RoomImage, *, later: bool = True) -> RoomImage | None:
    """The waiting photo just after `image` in the queue's order (before it: `later=False`),
    whether or not `image` itself still waits."""
    if later:
        beyond = Q(created_at__gt=image.created_at) | Q(
            created_at=image.created_at, id__gt=image.id
        )
        return review_queue().filter(beyond).first()
    before = Q(created_at__lt=image.created_at) | Q(created_at=image.created_at, id__lt=image.id)
    return review_queue().filter(before).last()


def can_approve(image: RoomImage) -> bool:
    """Held for a moderator, and neither explicit (never published) nor hidden."""
    return image.is_flagged and not image.quarantined and image.status != RoomImage.Status.HIDDEN


def photo_urls(image: RoomImage) -> tuple[str, str]:
    """(the photo, its thumbnail) as moderators may see them: a private one through the
    moderators' view, a quarantined one only ever blurred."""
    if image.is_public:
        return image.file.url, image.thumbnail_url
    small = reverse("admin:rooms_roomimage_photo", args=[image.pk])
    return (small if image.quarantined else f"{small}?full=1"), small


def thumbnail_html(image: RoomImage, size: int = 96):
    if not image.file:
        return "—"
    full, small = photo_urls(image)
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


class MergeForm(forms.Form):
    into = forms.ModelChoiceField(
        queryset=Hotel.objects.filter(status=Hotel.Status.LISTED),
        label="Merge into",
        help_text="The listed hotel the traveller meant: type to search.",
        # Any foreign key to Hotel will do as the autocomplete's source; this one is
        # read-only in its own admin, so its search serves only this form.
        widget=AutocompleteSelect(Submission._meta.get_field("hotel"), admin.site),
    )


@admin.register(Hotel)
class HotelAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "chain", "city", "country_code", "external_ref", "photos"]
    list_filter = ["status", "country_code", "chain"]
    search_fields = ["name", "city", "external_ref"]
    list_select_related = ["chain"]
    autocomplete_fields = ["chain"]
    actions = ["approve_proposals", "merge_proposals"]

    def get_model_perms(self, request):
        """As RoomImageAdmin's: moderators see how many proposals wait on the admin home."""
        perms = super().get_model_perms(request)
        if perms.get("change"):
            perms["to_review"] = lambda: Hotel.objects.filter(status=Hotel.Status.PROPOSED).count()
        return perms

    def get_search_results(self, request, queryset, search_term):
        queryset, distinct = super().get_search_results(request, queryset, search_term)
        match = request.resolver_match
        if match and match.url_name == "autocomplete":  # MergeForm: listed hotels only
            queryset = queryset.filter(status=Hotel.Status.LISTED)
        return queryset, distinct

    @admin.display(description="photos")
    def photos(self, hotel):
        listing = reverse("admin:rooms_roomimage_changelist")
        return format_html('<a href="{}?{}">photos</a>', listing, urlencode({"q": hotel.name}))

    @admin.action(
        description="Approve the proposed hotels (and release their photos)",
        permissions=["change"],
    )
    def approve_proposals(self, request, queryset):
        proposals = queryset.filter(status=Hotel.Status.PROPOSED)
        for hotel in proposals:
            approve_hotel(hotel, request.user)
            self.log_change(request, hotel, "Approved the traveller's proposal")
        self.message_user(request, f"{len(proposals)} hotel(s) approved.", messages.SUCCESS)

    @admin.action(
        description="Merge the proposed hotels into a listed hotel…", permissions=["change"]
    )
    def merge_proposals(self, request, queryset):
        """First a page to choose the listed hotel, then the merge (rooms.proposals)."""
        proposals = list(queryset.filter(status=Hotel.Status.PROPOSED))
        if not proposals:
            self.message_user(request, "Choose proposed hotels to merge.", messages.WARNING)
            return None
        form = MergeForm(request.POST if "into" in request.POST else None)
        if not form.is_valid():
            return self.merge_page(request, form, proposals)
        into = form.cleaned_data["into"]
        for hotel in proposals:
            try:
                merge_hotel(hotel, into, request.user)
            except NotMergeable as exc:
                self.message_user(request, f"{hotel} not merged: {exc}.", messages.ERROR)
                continue
            self.log_change(request, into, f"Merged the traveller's proposal {hotel} into it")
            self.message_user(request, f"{hotel} merged into {into}.", messages.SUCCESS)
        return None

    def merge_page(self, request, form, proposals):
        context = {
            **self.admin_site.each_context(request),
            "title": "Merge proposed hotels",
            "opts": self.model._meta,
            "form": form,
            "proposals": proposals,
            "media": self.media + form.media,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/rooms/hotel/merge.html", context)


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
        "review": AWAITING_REVIEW,
        "held": ~Q(flagged_reason="") & Q(quarantined=False) & ~Q(status=RoomImage.Status.HIDDEN),
        "quarantined": Q(quarantined=True) & ~Q(status=RoomImage.Status.HIDDEN),
        "hidden": Q(status=RoomImage.Status.HIDDEN),
        "published": Q(flagged_reason="", quarantined=False) & ~Q(status=RoomImage.Status.HIDDEN),
    }

    def lookups(self, request, model_admin):
        return [
            ("review", "To review (oldest first)"),
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
        "room_number",
        "moderation",
        "flagged_reason",
        "duplicate_hotel",
        "reviewed",
        "status",
        "created_at",
    ]
    list_display_links = ["id", "preview"]
    list_filter = [ModerationFilter, "status", NearDuplicateFilter]
    list_select_related = [
        "submission__hotel",
        "near_duplicate_of__submission__hotel",
        "reviewed_by",
    ]
    search_fields = ["submission__hotel__name", "submission__room_number"]
    fields = ["submission", "hotel_name", "room_number", *IMAGE_FIELDS]
    readonly_fields = fields
    actions = ["approve_images", "hide_images"]

    class Media:
        css = {"all": ["rooms/admin/moderation.css"]}
        js = ["rooms/admin/moderation.js"]  # the keyboard shortcuts (no inline script: CSP)

    def has_add_permission(self, request):
        return False  # photos arrive through the upload service only

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:object_id>/photo/", view(self.photo_view), name="rooms_roomimage_photo"),
            path(
                "<int:object_id>/approve/",
                view(self.decide_view),
                {"decision": "approve"},
                name="rooms_roomimage_approve",
            ),
            path(
                "<int:object_id>/hide/",
                view(self.decide_view),
                {"decision": "hide"},
                name="rooms_roomimage_hide",
            ),
            *super().get_urls(),
        ]

    def get_model_perms(self, request):
        """The admin home lists these per model; for moderators they also carry the
        number of photos waiting (templates/admin/index.html), counted only if shown."""
        perms = super().get_model_perms(request)
        if perms.get("change"):
            perms["to_review"] = lambda: review_queue().count()
        return perms

    def get_ordering(self, request):
        if request.GET.get(ModerationFilter.parameter_name) == "review":
            return QUEUE_ORDER
        return super().get_ordering(request)

    def get_list_display(self, request):
        if not self.has_change_permission(request):
            return self.list_display
        shown = list(self.list_display)
        shown.insert(shown.index("preview") + 1, "decide_buttons")  # beside the photo
        return shown

    def change_view(self, request, object_id, form_url="", extra_context=None):
        image = self.get_object(request, unquote(object_id))
        if image is not None:
            extra_context = {**(extra_context or {}), "moderation": self.panel(request, image)}
        return super().change_view(request, object_id, form_url, extra_context)

    def panel(self, request, image) -> dict:
        """What the photo's page shows above its fields: the photo, large; the decisions
        the user may take; the queue's neighbours (for the keyboard shortcuts)."""
        may_decide = self.has_change_permission(request, image)
        earlier, later = queue_neighbour(image, later=False), queue_neighbour(image)
        width = image.width or 4
        return {
            "photo_url": photo_urls(image)[0] if image.file else "",
            "width": CHANGE_PREVIEW,
            "height": CHANGE_PREVIEW * (image.height or 3) // width,
            "state": moderation_state(image),
            "approve_url": may_decide and can_approve(image) and decision_url("approve", image),
            "hide_url": may_decide
            and image.status != RoomImage.Status.HIDDEN
            and decision_url("hide", image),
            "previous_url": earlier and change_url(earlier),
            "next_url": later and change_url(later),
            "queue_url": queue_url(),
            "proposal_url": image.submission.hotel.status == Hotel.Status.PROPOSED
            and reverse("admin:rooms_hotel_change", args=[image.submission.hotel_id]),
            "waiting": review_queue().count(),
        }

    def decide_view(self, request, object_id, decision):
        """Approve or hide one photo (POST), then on to the next photo waiting; from
        the photo list, back to that list."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        image = get_object_or_404(RoomImage, pk=object_id)
        if not self.has_change_permission(request, image):
            raise PermissionDenied
        try:
            self.decide(request, image, decision)
        except NotApprovable as exc:
            self.message_user(request, f"Photo #{image.pk} not approved: {exc}.", messages.ERROR)
            return redirect(change_url(image))
        return redirect(self.after_decision(request, image))

    def decide(self, request, image, decision: str) -> None:
        if decision == "approve":
            image_approve(image, moderator=request.user)
            done = "Approved"
        else:
            image_hide(
                image, reason=f"hidden by {request.user.get_username()}", moderator=request.user
            )
            done = "Hidden"
        self.log_change(request, image, done)  # the admin's history: every decision
        self.message_user(request, f"{done} photo #{image.pk}.", messages.SUCCESS)

    def after_decision(self, request, image) -> str:
        listing = request.META.get("HTTP_REFERER", "")
        if urlsplit(listing).path == reverse("admin:rooms_roomimage_changelist") and (
            url_has_allowed_host_and_scheme(
                listing, {request.get_host()}, require_https=request.is_secure()
            )
        ):
            return listing
        following = queue_neighbour(image) or review_queue().first()
        if following is None:
            self.message_user(request, "No photo is waiting for review.", messages.INFO)
            return queue_url()
        return change_url(following)

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
        return thumbnail_html(image, LIST_THUMBNAIL)

    @admin.display(description="hotel", ordering="submission__hotel__name")
    def hotel_name(self, image):
        return image.submission.hotel.name

    @admin.display(description="room", ordering="submission__room_number")
    def room_number(self, image):
        return image.submission.room_number

    @admin.display(description="moderation")
    def moderation(self, image):
        return moderation_state(image)

    @admin.display(description="reviewed", ordering="reviewed_at")
    def reviewed(self, image):
        if image.reviewed_at is None:
            return "—"
        who = image.reviewed_by.get_username() if image.reviewed_by else "not a person"
        when = date_format(timezone.localtime(image.reviewed_at), "SHORT_DATETIME_FORMAT")
        return f"{who}, {when}"

    @admin.display(description="decide")
    def decide_buttons(self, image):
        """Approve / hide buttons in the list's own form (it carries the CSRF token):
        each posts to its decision's URL instead of the form's."""
        buttons = []
        if can_approve(image):
            buttons.append(("approve", decision_url("approve", image), "Approve"))
        if image.status != RoomImage.Status.HIDDEN:
            buttons.append(("hide", decision_url("hide", image), "Hide"))
        return (
            format_html_join(
                " ",
                '<button type="submit" class="button moderation-{}" formaction="{}">{}</button>',
                buttons,
            )
            or "—"
        )

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
                image_approve(image, moderator=request.user)
                self.log_change(request, image, "Approved")
                approved += 1
            except NotApprovable as exc:
                refused.append(f"#{image.pk}: {exc}")
        self.message_user(request, f"{approved} image(s) approved.", messages.SUCCESS)
        if refused:
            self.message_user(request, "Not approved: " + "; ".join(refused), messages.WARNING)

    @admin.action(description="Hide: out of search and out of public media", permissions=["change"])
    def hide_images(self, request, queryset):
        for image in queryset:
            reason = f"hidden by {request.user.get_username()}"
            image_hide(image, reason=reason, moderator=request.user)
            self.log_change(request, image, "Hidden")
        self.message_user(request, f"{len(queryset)} image(s) hidden.", messages.SUCCESS)


def change_url(image: RoomImage) -> str:
    return reverse("admin:rooms_roomimage_change", args=[image.pk])


def decision_url(decision: str, image: RoomImage) -> str:
    return reverse(f"admin:rooms_roomimage_{decision}", args=[image.pk])


def queue_url() -> str:
    return reverse("admin:rooms_roomimage_changelist") + "?moderation=review"


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
