"""Role names and the permission each role check uses (groups are created by migration 0005)."""
from __future__ import annotations

VIEWERS_GROUP = "Lead sync viewers"
OPERATORS_GROUP = "Lead sync operators"

# Portal pages and read APIs: staff with this permission (viewers, operators, superusers).
VIEW_PERMISSION = "monitoring.view_lead"
# Repairs of leads (admin edits and actions).
CHANGE_PERMISSION = "monitoring.change_lead"
