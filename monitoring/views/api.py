"""Machine-readable endpoints: get-sync-metrics for n8n and scripts, /metrics for Prometheus.

They sit outside the login (machines carry a bearer token instead of a session), answer GET
only, and refuse before reading anything when the caller is not authorised.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client.exposition import choose_encoder

from monitoring.prometheus import registry
from monitoring.roles import VIEW_PERMISSION
from monitoring.selectors.metrics import sync_metrics_payload
from monitoring.services.api_tokens import ApiTokenExpired, authenticate_api_token
from monitoring.services.throttle import throttle

View = Callable[..., HttpResponse]


def _error(status: int, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def bearer_secret(request: HttpRequest) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def check_api_token(request: HttpRequest) -> JsonResponse | None:
    """Authenticate, throttle and authorise a token request; None when it may proceed.

    401 without a live token, 429 past the token's budget, 403 when its user lacks the viewer
    role (the same check as the portal pages: staff with monitoring.view_lead).
    """
    secret = bearer_secret(request)
    if secret is None:
        return _error(
            401, "Authentication required: send 'Authorization: Bearer <token>'.",
            WWW_Authenticate='Bearer realm="leadsync"',
        )
    try:
        token = authenticate_api_token(secret)
    except ApiTokenExpired as exc:
        return _error(401, str(exc), WWW_Authenticate='Bearer realm="leadsync", error="invalid_token"')
    if token is None:
        return _error(
            401, "Invalid or revoked token.", WWW_Authenticate='Bearer realm="leadsync", error="invalid_token"'
        )
    retry_after = throttle(f"api-token:{token.pk}", limit=settings.API_THROTTLE_PER_MINUTE, window=60)
    if retry_after is not None:
        return _error(429, "Too many requests for this token; slow down.", Retry_After=str(retry_after))
    user = token.user
    if not (user.is_staff and user.has_perm(VIEW_PERMISSION)):
        return _error(403, "This token's user does not have the viewer role.")
    request.user = user
    request.api_token = token  # type: ignore[attr-defined]
    return None


def api_token_required(view: View) -> View:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return check_api_token(request) or view(request, *args, **kwargs)

    return wrapper


def client_ip_allowed(request: HttpRequest) -> bool:
    """Whether the client address is in METRICS_ALLOWED_IPS (addresses or networks like 10.0.0.0/8).

    REMOTE_ADDR is the real client address (monitoring.client_address: X-Forwarded-For counts
    only when a TRUSTED_PROXIES peer passed it on).
    """
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    for allowed in settings.METRICS_ALLOWED_IPS:
        try:
            if address in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            continue
    return False


@require_safe
@never_cache
@api_token_required
def sync_metrics(request: HttpRequest) -> JsonResponse:
    """GET /api/sync-metrics/: the get-sync-metrics document (see selectors.metrics)."""
    return JsonResponse(sync_metrics_payload(), encoder=DjangoJSONEncoder)


@require_safe
@never_cache
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """GET /metrics: Prometheus exposition; allow-listed scrapers or a bearer token."""
    if not client_ip_allowed(request):
        refused = check_api_token(request)
        if refused is not None:
            return refused
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(registry), content_type=content_type)
