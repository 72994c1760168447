"""Role names, the permission each role check uses, and keeping the role groups in place.

Migrations 0005 and 0041 create the groups; `ensure_role_groups` puts them back where a flush
emptied auth_group (the test personas call it: transactional tests flush the tables).
"""
from __future__ import annotations

VIEWERS_GROUP = "Lead sync viewers"
OPERATORS_GROUP = "Lead sync operators"

# Portal pages and read APIs: staff with this permission (viewers, operators, superusers).
VIEW_PERMISSION = "monitoring.view_lead"
# Repairs of leads (admin edits and actions).
CHANGE_PERMISSION = "monitoring.change_lead"

VIEWER_CODENAMES = [
    "view_customersegment",
    "view_lead",
    "view_leadsynchistory",
    "view_leadsynchealthdashboard",
    "view_realtimesyncactivity",
    "view_syncmonitoring",
    "view_leadanalytics",
    "view_leadsyncdailysummary",
    "view_leadrepair",  # migration 0212
    # alerting (migration 0041)
    "view_alertrule",
    "view_incident",
    "view_channel",
    "view_delivery",
]
OPERATOR_EXTRA_CODENAMES = ["change_lead", "manage_alerts"]


def ensure_role_groups(**_kwargs: object) -> None:
    """Create the two role groups with at least their base permissions, if missing."""
    from django.contrib.auth.models import Group, Permission

    if Group.objects.filter(name__in=[VIEWERS_GROUP, OPERATORS_GROUP]).count() == 2:
        return
    perms = Permission.objects.filter(content_type__app_label="monitoring")
    view = list(perms.filter(codename__in=VIEWER_CODENAMES))
    viewers, _ = Group.objects.get_or_create(name=VIEWERS_GROUP)
    viewers.permissions.add(*view)
    operators, _ = Group.objects.get_or_create(name=OPERATORS_GROUP)
    operators.permissions.add(*view, *perms.filter(codename__in=OPERATOR_EXTRA_CODENAMES))
