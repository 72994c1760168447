"""Admin registrations, one module per area (imported here so Django's autodiscover finds them)."""
from . import leads  # noqa: F401  (Lead, history, segments and the read-only view admins)
