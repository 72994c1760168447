"""python manage.py create_api_token <username> [--name NAME]: issue an API token and print it once."""
from __future__ import annotations

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

    def handle(self, *args: Any, username: str, name: str, **options: Any) -> None:
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive; an inactive user's tokens are refused.")
        _, secret = create_api_token(user=user, name=name)
        if not (user.is_staff and user.has_perm(VIEW_PERMISSION)):
            self.stderr.write(
                self.style.WARNING(
                    f"{username} is not a staff member with the viewer role: requests with this token will get 403 "
                    "until they are (add them to the 'Lead sync viewers' group and tick 'staff status')."
                )
            )
        self.stderr.write(f"Token {name!r} for {username} (shown once; store it now, only its hash is kept):")
        # The secret alone on stdout, so `TOKEN=$(manage.py create_api_token ...)` works.
        self.stdout.write(secret)
