"""Investigator teams, searches (short-lived, private) and the audit log (kept)."""

import os
import uuid

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils import timezone


class PrivateStorage(FileSystemStorage):
    """Query photos: under PRIVATE_MEDIA_ROOT, read at use time, and never given a URL.

    FileSystemStorage falls back to MEDIA_URL when base_url is None, so `url()` is
    refused outright: the only way to a query photo is the authorised view.
    """

    def __init__(self):
        super().__init__(base_url=None)

    @property
    def base_location(self):
        return str(settings.PRIVATE_MEDIA_ROOT)

    @property
    def location(self):
        return os.path.abspath(self.base_location)

    def url(self, name):
        raise ValueError("query photos have no public URL; use the authorised view")


PRIVATE_STORAGE = PrivateStorage()


def private_storage():
    # A callable keeps the storage (and its settings lookup) out of migrations.
    return PRIVATE_STORAGE


def query_image_path(instance, filename):
    # Random name: nothing of the original file name (often a case reference) is kept.
    extension = os.path.splitext(filename)[1].lower() or ".bin"
    return f"queries/{uuid.uuid4().hex}{extension}"


class Team(models.Model):
    """A group of investigators who share their searches."""

    name = models.CharField(max_length=120, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class TeamMembership(models.Model):
    """An investigator belongs to exactly one team."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_membership"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")

    def __str__(self):
        return f"{self.user} in {self.team}"


class Case(models.Model):
    """A team's case: several searches (often photos of a few rooms over months) in one
    workspace, with the team's own reference. Only the team sees it.

    A legal hold keeps the case's searches past SEARCH_RETENTION_DAYS until released.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="cases")
    reference = models.CharField(max_length=60, help_text="The team's own case number.")
    title = models.CharField(max_length=200)
    notes = models.TextField(blank=True, max_length=20000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    legal_hold = models.BooleanField(default=False)
    legal_hold_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    legal_hold_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["team", "reference"], name="one_reference_per_team")
        ]

    def __str__(self):
        return f"{self.reference}: {self.title}"


class Search(models.Model):
    """One hotel search: the private query photo and its ranked results.

    Deleted (file included) after SEARCH_RETENTION_DAYS; the AuditEntry stays.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # PROTECT: deleting an account must not delete evidence (a case's legal hold
    # included); deactivate it instead, and its searches go with the retention purge.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="searches"
    )
    # The owner's team when the search was made: who may see it does not change later.
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="searches"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    query_image = models.FileField(storage=private_storage, upload_to=query_image_path)
    query_content_type = models.CharField(max_length=40)
    query_sha256 = models.CharField(max_length=64, db_index=True)
    mask_sha256 = models.CharField(max_length=64, blank=True)
    # The erase mask as uploaded (PNG, white = erased), shown over the query on results.
    query_mask = models.FileField(storage=private_storage, upload_to=query_image_path, blank=True)
    region = models.JSONField(null=True, blank=True, help_text="[x, y, w, h] in pixels")
    filters = models.JSONField(default=dict, blank=True)
    k = models.PositiveSmallIntegerField()
    query_exif = models.JSONField(default=dict, blank=True)
    model_version = models.CharField(max_length=120, blank=True)
    verified_lift = models.FloatField(
        null=True,
        blank=True,
        help_text="Most a verified photo gains; empty: not recorded",
    )
    # Snapshots, so a later catalogue edit does not rewrite what the analyst saw.
    hotels = models.JSONField(default=list, blank=True)
    chains = models.JSONField(default=list, blank=True)
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="searches"
    )
    # "Same room": the case's combined ranking fuses the searches marked so.
    same_room = models.BooleanField(default=False)
    # Photos sent together as one multi-photo search share this id (and are same_room).
    photo_set = models.UUIDField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "searches"
        permissions = [("search_hotels", "Can search hotels with a query photo")]

    def __str__(self):
        return f"Search {self.pk} by {self.owner}"

    @property
    def private_files(self) -> list[str]:
        """Names of this search's files in private storage (its revisions' masks too)."""
        saved = not self._state.adding  # an unsaved search has no revisions to ask for
        masks = (
            [n for n in self.revisions.values_list("query_mask", flat=True) if n] if saved else []
        )
        names = [f.name for f in (self.query_image, self.query_mask) if f.name]
        return sorted(set(names + masks))


# What a search and each of its revisions record of one run (`Search` keeps its latest).
RUN_FIELDS = (
    "filters", "k", "region", "mask_sha256", "model_version", "verified_lift", "hotels", "chains",
)  # fmt: skip


class SearchRevision(models.Model):
    """One run of a search: its filters, k, region and mask, and what it ranked.

    Revision 1 is the search as first run; a re-run with other filters or a corrected
    mask adds the next one, on the same query photo. The `Search` row keeps a copy of
    its latest revision, so lists and exports read one row.
    """

    search = models.ForeignKey(Search, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    filters = models.JSONField(default=dict, blank=True)
    k = models.PositiveSmallIntegerField()
    region = models.JSONField(null=True, blank=True, help_text="[x, y, w, h] in pixels")
    query_mask = models.FileField(storage=private_storage, upload_to=query_image_path, blank=True)
    mask_sha256 = models.CharField(max_length=64, blank=True)
    model_version = models.CharField(max_length=120, blank=True)
    verified_lift = models.FloatField(
        null=True,
        blank=True,
        help_text="Most a verified photo gains; empty: not recorded",
    )
    hotels = models.JSONField(default=list, blank=True)
    chains = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["search", "number"]
        constraints = [
            models.UniqueConstraint(fields=["search", "number"], name="one_revision_number")
        ]

    def __str__(self):
        return f"Search {self.search_id} revision {self.number}"


class Decision(models.Model):
    """An investigator's verdict on a hotel, or on one matching photo, of a search.

    Appended, never edited: the latest per (hotel, photo) is the state shown, the
    earlier ones are the history. With the query photo they are labelled pairs (same
    hotel or not) for the matcher's training, for as long as the search is kept.
    """

    class Verdict(models.TextChoices):
        CONFIRMED = "confirmed"
        REJECTED = "rejected"

    search = models.ForeignKey(Search, on_delete=models.CASCADE, related_name="decisions")
    revision = models.PositiveSmallIntegerField()
    hotel_id = models.PositiveIntegerField()
    # Copied: the catalogue may rename or merge the hotel later.
    hotel_name = models.CharField(max_length=200)
    image_id = models.PositiveIntegerField(null=True, blank=True, help_text="None: the hotel")
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    note = models.TextField(blank=True, max_length=2000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self):
        target = f"photo {self.image_id} of " if self.image_id else ""
        return f"{self.verdict} {target}{self.hotel_name}"


class AuditEntryQuerySet(models.QuerySet):
    """Append-only: the application may add audit rows, never change or remove them."""

    def update(self, **kwargs):
        raise AuditImmutable("audit entries are never updated")

    def delete(self):
        raise AuditImmutable("audit entries are never deleted")

    # bulk_create would bypass the chain (audit.audit_event), bulk_update the refusal.
    def bulk_create(self, objs, *args, **kwargs):
        raise AuditImmutable("audit entries are appended one by one, through investigations.audit")

    def bulk_update(self, objs, fields, *args, **kwargs):
        raise AuditImmutable("audit entries are never updated")


class AuditImmutable(Exception):
    """Raised on any attempt to update or delete an audit entry through the ORM."""


class AuditEntry(models.Model):
    """Who searched, opened, exported or tried to open what, and when. Append-only and
    hash-chained (`investigations.audit`); never deleted, by the retention purge either."""

    class Action(models.TextChoices):
        SEARCH = "search"
        SEARCH_VIEW = "search_view"
        SEARCH_LIST = "search_list"
        QUERY_IMAGE = "query_image"
        EXPORT = "export"  # before exports were told apart; kept for old rows
        EXPORT_CSV = "export_csv"
        EXPORT_JSON = "export_json"
        REVISION = "revision"
        REVISION_LIST = "revision_list"
        DECISION = "decision"
        DECISION_LIST = "decision_list"
        COMPARE = "compare"
        # A heat map or correspondence image: both draw on the query photo.
        EXPLANATION = "explanation"
        REPORT = "report"
        CASE_CREATE = "case_create"
        CASE_VIEW = "case_view"
        CASE_LIST = "case_list"
        CASE_UPDATE = "case_update"
        CASE_ATTACH = "case_attach"
        LEGAL_HOLD = "legal_hold"
        LEGAL_HOLD_RELEASE = "legal_hold_release"
        # A photo sent for a suggested erase mask (processed, not stored).
        SUGGEST_MASK = "suggest_mask"
        # A query photo read to train the matcher on its verdicts (no person asked).
        TRAINING = "training"
        # Events about no one search or case (`audit_event`); `detail` says more.
        LOGIN = "login"
        LOGIN_FAILED = "login_failed"
        LOCKOUT = "lockout"
        OTP_VERIFIED = "otp_verified"
        OTP_FAILED = "otp_failed"
        TOKEN_CREATED = "token_created"
        TOKEN_USED = "token_used"
        TOKEN_REVOKED = "token_revoked"
        DENIED = "denied"  # 403 on an investigator URL
        NOT_FOUND = "not_found"  # 404 on a search or case URL (another team's, or none)
        THROTTLED = "throttled"  # 429

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # None: anonymous (a refused request, a failed login), or an account since deleted.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Copied so the entry still says who it was after the account is deleted; for a
    # failed login, the name that was typed.
    username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices, default=Action.SEARCH)
    # Not foreign keys: searches are purged (and cases deleted), their audit trail is not.
    search_id = models.UUIDField(null=True, blank=True, db_index=True)
    case_id = models.UUIDField(null=True, blank=True, db_index=True)
    filters = models.JSONField(default=dict, blank=True)
    query_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    result_count = models.PositiveIntegerField(default=0)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    # What else the event needs: path, method, status, reason, token id...
    detail = models.JSONField(default=dict, blank=True)
    # The chain: SHA-256 of the previous entry, and of this one's canonical fields.
    prev_hash = models.CharField(max_length=64, editable=False)
    entry_hash = models.CharField(max_length=64, editable=False)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "audit entries"

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.username} {self.action} {self.search_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditImmutable("audit entries are never updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditImmutable("audit entries are never deleted")


class AuditChainHead(models.Model):
    """The one row that serialises audit appends: the last entry's id and hash.

    Writers update it first, in the transaction that appends the entry, so the chain
    stays linear whatever the number of processes (a row lock on PostgreSQL, the write
    lock on SQLite).
    """

    length = models.PositiveBigIntegerField(default=0)
    last_id = models.PositiveBigIntegerField(null=True, blank=True)
    last_hash = models.CharField(max_length=64, blank=True)

    def __str__(self):
        return f"audit chain: {self.length} entries, last {self.last_id}"
