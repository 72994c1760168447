"""Template context every portal page shares."""
from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from monitoring.navigation import NAVIGATION


def portal(request: HttpRequest) -> dict[str, object]:
    return {"DISPLAY_TIME_ZONE": settings.TIME_ZONE, "NAVIGATION": NAVIGATION}
