"""Template context every portal page shares."""
from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from monitoring.navigation import NAVIGATION, RANGE_PAGES
from monitoring.selectors.ranges import RANGE_PARAMS


def portal(request: HttpRequest) -> dict[str, object]:
    """NAVIGATION plus NAV_LINKS: (url name, label, href), where the range pages' links carry the
    current page's time range (range/from/to), so moving between them keeps the view."""
    carried = {name: request.GET[name] for name in RANGE_PARAMS if request.GET.get(name)}
    query = ("?" + urlencode(carried)) if carried else ""
    links = [
        (url_name, label, reverse(url_name) + (query if url_name in RANGE_PAGES else ""))
        for url_name, label in NAVIGATION
    ]
    return {"DISPLAY_TIME_ZONE": settings.TIME_ZONE, "NAVIGATION": NAVIGATION, "NAV_LINKS": links}
