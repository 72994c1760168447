"""Create (or reset) the demo logins: one per role, all sharing DEMO_PASSWORD, and print how to log in."""
from __future__ import annotations

import os

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError

from monitoring.roles import OPERATORS_GROUP, VIEWERS_GROUP

DEMO_USERS = [
    ("admin", None, True),
    ("operator", OPERATORS_GROUP, False),
    ("viewer", VIEWERS_GROUP, False),
]


class Command(BaseCommand):
    help = "Create the demo users admin (superuser), operator and viewer with the password in DEMO_PASSWORD."

    def handle(self, *args, **options) -> None:
        password = os.environ.get("DEMO_PASSWORD", "")
        if len(password) < 12:
            raise CommandError("Set DEMO_PASSWORD (12+ characters); ./portal up generates one in .data/demo_password.")
        for username, group, is_superuser in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
            user.is_staff = True
            user.is_superuser = is_superuser
            user.set_password(password)
            user.save()
            if group:
                user.groups.set([Group.objects.get(name=group)])
        port = os.environ.get("PORT", "8000")
        self.stdout.write(
            self.style.SUCCESS(
                f"Log in at http://127.0.0.1:{port}/ as admin, operator or viewer with password {password}"
            )
        )
