"""Admin for investigations: teams and who is in them, and the audit trail (read-only).

Being an administrator gives no access to investigators' data (`permissions`): a
search shows its metadata only (who, which team, when, how many revisions and
decisions), never its photo, EXIF, GPS, filters or results, and cannot be deleted
here (the retention purge does that, and it respects a case's legal hold). Cases are
not in the admin at all: their titles and notes are the team's own.
"""

from django.contrib import admin
from django.db.models import Count

from investigations.models import AuditEntry, Search, Team, TeamMembership


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TeamMembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    inlines = [TeamMembershipInline]


@admin.register(Search)
class SearchAdmin(ReadOnlyAdmin):
    """Metadata only; nothing of what the photo shows or what it matched."""

    list_display = ["id", "created_at", "team", "owner", "revision_count", "decision_count"]
    list_filter = ["team", "created_at"]
    fields = list_display
    readonly_fields = list_display

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("team", "owner")
        return queryset.annotate(
            revisions_n=Count("revisions", distinct=True),
            decisions_n=Count("decisions", distinct=True),
        )

    @admin.display(description="revisions", ordering="revisions_n")
    def revision_count(self, search):
        return search.revisions_n

    @admin.display(description="decisions", ordering="decisions_n")
    def decision_count(self, search):
        return search.decisions_n


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """The trail as written: no add, change or delete (`manage.py verify_audit` checks it)."""

    list_display = ["created_at", "username", "action", "search_id", "case_id", "client_address"]
    list_filter = ["action", "created_at"]
    search_fields = ["username", "search_id", "case_id", "query_sha256", "client_address"]
    readonly_fields = [
        "created_at",
        "user",
        "username",
        "action",
        "search_id",
        "case_id",
        "filters",
        "query_sha256",
        "result_count",
        "client_address",
        "detail",
        "prev_hash",
        "entry_hash",
    ]
    fields = readonly_fields

    def get_actions(self, request):
        return {}  # not even delete_selected
