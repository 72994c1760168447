"""Admin registrations, one module per area (imported here so Django's autodiscover finds them)."""
from . import api  # noqa: E402,F401
from . import alerts  # noqa: E402,F401
from . import leads  # noqa: F401  (Lead, history, segments and the read-only view admins)
from . import maintenance  # noqa: F401

from django.contrib import admin as _admin  # noqa: E402

# No app-list sidebar on every admin page: it took ~270 px, which pushed the lead list's Updated
# and Last synced columns out of a 1440 px window (issue 13.5). The breadcrumbs and the admin
# index still lead everywhere.
_admin.site.enable_nav_sidebar = False
