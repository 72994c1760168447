"""Response headers for a portal full of personal data (the CSP itself comes from django-csp).

- Permissions-Policy: the portal needs no camera, microphone, location, payment or USB; saying
  so means an injected script or a framed page cannot ask for them either.
- Cache-Control: pages, exports and API answers hold lead names and e-mail addresses, so no
  browser, proxy or CDN may keep a copy (`private, no-store`). Views that set their own
  Cache-Control (never_cache on the API: it includes both) keep theirs. Static files never get
  here: WhiteNoise answers them earlier in the middleware list, with their long cache lifetimes.
"""
from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer", "autoplay", "camera", "display-capture", "geolocation", "gyroscope", "magnetometer",
        "microphone", "midi", "payment", "publickey-credentials-get", "screen-wake-lock", "usb", "xr-spatial-tracking",
    )
)
NO_STORE = "private, no-store"


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault("Cache-Control", NO_STORE)
        return response
