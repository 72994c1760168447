"""API tokens: how machines (n8n, Prometheus, scripts) prove who they act for."""
from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A bearer token acting for one user; only a hash of the secret is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens", verbose_name="user"
    )
    name = models.CharField(max_length=100, help_text="What uses this token, e.g. “n8n lead sync monitor”.")
    # sha256 of a 256-bit random secret: a fast hash is enough for a secret nobody can guess,
    # and it lets authentication find the row with one index probe.
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=12, editable=False, help_text="The first characters of the token, to recognise it in logs."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="After this moment the token is refused (401); empty: it never expires (API_TOKEN_LIFETIME_DAYS=0).",
    )
    revoked_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Set when revoked; a revoked token is refused."
    )

    class Meta:
        db_table = "monitoring_api_token"
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…, {self.user})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
