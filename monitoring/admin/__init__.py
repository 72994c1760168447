"""Admin registrations, one module per area (imported here so Django's autodiscover finds them)."""
from . import api  # noqa: E402,F401
from . import alerts  # noqa: E402,F401
from . import leads  # noqa: F401  (Lead, history, segments and the read-only view admins)
from . import maintenance  # noqa: F401
