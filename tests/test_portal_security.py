"""Login throttling (django-axes), the login page, and `check --deploy` with production settings."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.urls import reverse

from .conftest import PASSWORD

ROOT = Path(__file__).resolve().parent.parent


def test_login_page_renders_and_logs_in(client, viewer):
    page = client.get(reverse("login"))
    assert page.status_code == 200 and 'name="username"' in page.content.decode()
    response = client.post(reverse("login"), {"username": "viewer", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("monitoring:overview")


def test_wrong_password_says_so(client, viewer):
    response = client.post(reverse("login"), {"username": "viewer", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_sixth_bad_password_is_refused_with_a_clear_message(client, viewer):
    assert settings.AXES_FAILURE_LIMIT == 5
    for _attempt in range(5):
        client.post(reverse("login"), {"username": "viewer", "password": "wrong"})
    response = client.post(reverse("login"), {"username": "viewer", "password": "wrong"})
    assert response.status_code == 429
    body = response.content.decode()
    assert "Account locked: too many login attempts." in body
    assert "5 wrong passwords in a row for “viewer”" in body and "Try again in 15 minutes" in body
    # Locked means locked: even the right password is refused until the cool-off ends.
    response = client.post(reverse("login"), {"username": "viewer", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_logout_is_a_post_and_ends_the_session(viewer_client):
    response = viewer_client.post(reverse("logout"))
    assert response.status_code == 302
    assert viewer_client.get(reverse("monitoring:overview")).status_code == 302


def test_check_deploy_is_clean_with_production_settings():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "leadsync_portal.settings",
        "DEBUG": "0",
        "SECRET_KEY": "k" * 20 + "-Zq8!vR2#pL5@wX9$tY3^mN7&bH1*cF4(dJ6)",
        "ALLOWED_HOSTS": "portal.example.com",
    }
    env.pop("SECURE_SSL_REDIRECT", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
