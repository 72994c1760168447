"""API tokens in the admin: see who has which token and when it was last used; revoke."""
from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from monitoring.admin.guards import GuardedChangeListMixin
from monitoring.models import ApiToken
from monitoring.services.api_tokens import revoke_api_tokens


class RevokedFilter(admin.SimpleListFilter):
    """Live or revoked tokens."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("live", "Live"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
        if self.value() == "live":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(GuardedChangeListMixin, admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = [RevokedFilter]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    readonly_fields = ["user", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]
    fields = readonly_fields
    actions = ["revoke"]

    # Tokens are issued by `manage.py create_api_token` (the secret is printed once on a terminal,
    # never stored in a session or a message cookie); the admin only lists and revokes them.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = revoke_api_tokens(queryset)
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
