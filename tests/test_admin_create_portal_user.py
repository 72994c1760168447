"""The create_portal_user command puts a user in exactly one role."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from monitoring.roles import CHANGE_PERMISSION, OPERATORS_GROUP, VIEW_PERMISSION, VIEWERS_GROUP


def test_creates_a_viewer_with_a_password_from_the_environment(db, monkeypatch, capsys):
    monkeypatch.setenv("PORTAL_USER_PASSWORD", "a long enough passphrase 42")
    call_command("create_portal_user", "vera", "--role", "viewer", "--email", "vera@example.com", "--no-input")
    user = User.objects.get(username="vera")
    assert user.is_staff and not user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == [VIEWERS_GROUP]
    assert user.check_password("a long enough passphrase 42")
    assert user.has_perm(VIEW_PERMISSION) and not user.has_perm(CHANGE_PERMISSION)
    assert "Created vera as viewer" in capsys.readouterr().out


def test_moves_an_existing_user_to_operator_keeping_the_password(db, monkeypatch):
    monkeypatch.delenv("PORTAL_USER_PASSWORD", raising=False)
    User.objects.create_user("otto", password="old passphrase 12345")
    call_command("create_portal_user", "otto", "--role", "viewer", "--no-input")
    call_command("create_portal_user", "otto", "--role", "operator", "--no-input")
    user = User.objects.get(username="otto")
    assert list(user.groups.values_list("name", flat=True)) == [OPERATORS_GROUP]
    assert user.check_password("old passphrase 12345")
    assert user.has_perm(CHANGE_PERMISSION)


def test_new_user_without_password_gets_an_unusable_one(db, monkeypatch, capsys):
    monkeypatch.delenv("PORTAL_USER_PASSWORD", raising=False)
    call_command("create_portal_user", "nina", "--role", "operator", "--no-input")
    assert not User.objects.get(username="nina").has_usable_password()
    assert "changepassword nina" in capsys.readouterr().out


def test_weak_password_is_refused(db, monkeypatch):
    monkeypatch.setenv("PORTAL_USER_PASSWORD", "123")
    with pytest.raises(CommandError, match="too short"):
        call_command("create_portal_user", "weak", "--role", "viewer", "--no-input")
    assert not User.objects.filter(username="weak").exists()
