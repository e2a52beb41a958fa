from django.contrib import admin

from investigations.models import AuditEntry, Search, Team, TeamMembership
from investigations.services import search_delete


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
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
    """Metadata only: the query photo itself is never linked from the admin."""

    list_display = ["id", "owner", "team", "created_at", "k", "model_version"]
    list_filter = ["team", "created_at"]
    exclude = ["query_image", "query_mask"]
    actions = ["delete_with_photos"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it would leave the photo files behind
        return actions

    def delete_model(self, request, obj):
        search_delete(obj)

    @admin.action(description="Delete selected searches and their photos", permissions=["delete"])
    def delete_with_photos(self, request, queryset):
        for search in queryset:
            search_delete(search)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "username", "action", "search_id", "result_count"]
    list_filter = ["action", "created_at"]
    search_fields = ["username", "search_id", "query_sha256", "client_address"]

    def has_delete_permission(self, request, obj=None):
        return False
