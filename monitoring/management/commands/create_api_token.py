"""python manage.py create_api_token <username> [--name NAME] [--days N]: issue an API token and print it once."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.roles import VIEW_PERMISSION
from monitoring.services.api_tokens import create_api_token


class Command(BaseCommand):
    help = "Issue an API token for a user (for n8n, Prometheus, scripts). The token is printed once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="API token", help="What will use the token (shown in the admin).")
        parser.add_argument(
            "--days", type=int, default=None,
            help="Lifetime in days (default: API_TOKEN_LIFETIME_DAYS; 0: never expires).",
        )

    def handle(self, *args: Any, username: str, name: str, days: int | None, **options: Any) -> None:
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive; an inactive user's tokens are refused.")
        if days is not None and days < 0:
            raise CommandError("--days must be 0 (never expires) or more.")
        lifetime = True if days is None else (timedelta(days=days) if days else None)
        token, secret = create_api_token(user=user, name=name, lifetime=lifetime)
        if not (user.is_staff and user.has_perm(VIEW_PERMISSION)):
            self.stderr.write(
                self.style.WARNING(
                    f"{username} is not a staff member with the viewer role: requests with this token will get 403 "
                    "until they are (add them to the 'Lead sync viewers' group and tick 'staff status')."
                )
            )
        expiry = f"expires {token.expires_at:%Y-%m-%d %H:%M %Z}" if token.expires_at else "never expires"
        self.stderr.write(f"Token {name!r} for {username}, {expiry} (shown once; store it now, only its hash is kept):")
        # The secret alone on stdout, so `TOKEN=$(manage.py create_api_token ...)` works.
        self.stdout.write(secret)
