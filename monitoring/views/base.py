"""What every portal page shares: staff-only access with the viewer permission."""
from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin

from monitoring.roles import VIEW_PERMISSION


class PortalAccessMixin(LoginRequiredMixin, PermissionRequiredMixin):
    """Anonymous users go to the login page; logged-in users who are not staff viewers get 403."""

    permission_required = VIEW_PERMISSION

    def has_permission(self) -> bool:
        user = self.request.user
        return user.is_active and user.is_staff and super().has_permission()
