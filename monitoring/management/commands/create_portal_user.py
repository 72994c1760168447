"""Create a portal user in one role (or move an existing user to it): the operator's way to add people."""
from __future__ import annotations

import getpass
import os

from django.contrib.auth.models import Group, User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from monitoring.roles import OPERATORS_GROUP, VIEWERS_GROUP

ROLES = {"viewer": VIEWERS_GROUP, "operator": OPERATORS_GROUP}
PASSWORD_ENV = "PORTAL_USER_PASSWORD"


class Command(BaseCommand):
    help = (
        "Create a staff user in the 'viewer' or 'operator' role (groups from migration 0005), or change an existing "
        f"user's role. The password is asked for interactively, or read from ${PASSWORD_ENV} with --no-input. "
        "Superusers: use createsuperuser."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", choices=sorted(ROLES), required=True)
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--no-input", action="store_true", dest="no_input",
            help=f"Don't prompt: take the password from ${PASSWORD_ENV}; without it an existing password is kept "
            "and a new user gets an unusable one (set it later with changepassword).",
        )

    def handle(self, *args, username: str, role: str, email: str, no_input: bool, **options) -> None:
        password = os.environ.get(PASSWORD_ENV) if no_input else self._prompt_password()
        with transaction.atomic():
            user, created = User.objects.get_or_create(username=username, defaults={"email": email})
            if email:
                user.email = email
            user.is_staff = True  # the admin and the portal are staff-only
            if password:
                try:
                    validate_password(password, user)
                except ValidationError as exc:
                    raise CommandError("; ".join(exc.messages)) from exc
                user.set_password(password)
            elif created:
                user.set_unusable_password()
            user.save()
            # One role at a time: moving an operator to viewer takes the operator rights away.
            user.groups.remove(*Group.objects.filter(name__in=ROLES.values()))
            user.groups.add(Group.objects.get(name=ROLES[role]))
        verb = "Created" if created else "Updated"
        note = "" if user.has_usable_password() else f" (no password yet: manage.py changepassword {username})"
        self.stdout.write(self.style.SUCCESS(f"{verb} {username} as {role}{note}"))

    def _prompt_password(self) -> str:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("The passwords don't match.")
        return password
