"""Issuing, revoking and checking API tokens."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from monitoring.models import ApiToken

# Recognisable in secret scanners and logs; the rest is 256 bits from the OS's CSPRNG.
TOKEN_PREFIX = "lsp_"
# last_used_at is for humans ("is this token still in use?"): minute precision is enough and
# saves a write on every request from a busy scraper.
LAST_USED_GRANULARITY = timedelta(minutes=1)


class ApiTokenExpired(Exception):
    """The secret is a real token, but its lifetime is over: say so rather than "invalid"."""

    def __init__(self, token: ApiToken) -> None:
        super().__init__(f"This token expired at {token.expires_at:%Y-%m-%d %H:%M %Z}; ask for a new one.")
        self.token = token


def default_lifetime() -> timedelta | None:
    """API_TOKEN_LIFETIME_DAYS (0: tokens never expire)."""
    days = int(getattr(settings, "API_TOKEN_LIFETIME_DAYS", 90))
    return timedelta(days=days) if days > 0 else None


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_token(
    *, user: AbstractBaseUser, name: str, lifetime: timedelta | None | bool = True
) -> tuple[ApiToken, str]:
    """Issue a token for `user`; returns the row and the secret, which is shown once and never stored.

    `lifetime`: True for the default (API_TOKEN_LIFETIME_DAYS), None for a token that never expires.
    """
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    lifetime = default_lifetime() if lifetime is True else lifetime
    expires_at = timezone.now() + lifetime if isinstance(lifetime, timedelta) else None
    token = ApiToken.objects.create(
        user=user, name=name, token_hash=hash_token(secret), prefix=secret[:12], expires_at=expires_at
    )
    return token, secret


def revoke_api_tokens(tokens: QuerySet[ApiToken]) -> int:
    """Revoke the given tokens that are still live; returns how many were revoked."""
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


def authenticate_api_token(secret: str) -> ApiToken | None:
    """The live token with this secret, its user loaded, or None (unknown, revoked, inactive user).

    Raises ApiTokenExpired for a token past its expires_at, so the caller can say why.
    """
    if not secret:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=hash_token(secret), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        raise ApiTokenExpired(token)
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_GRANULARITY:
        # Conditional update: concurrent requests write at most once per minute.
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_GRANULARITY)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token
