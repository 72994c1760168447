"""Admin registrations, one module per area (imported here so Django's autodiscover finds them)."""
from . import maintenance  # noqa: F401
