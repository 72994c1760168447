"""API tokens: issued by a command, stored hashed, revocable in the admin."""
from __future__ import annotations

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from monitoring.models import ApiToken
from monitoring.services.api_tokens import authenticate_api_token, revoke_api_tokens

API_URL = reverse("monitoring:api-sync-metrics")


def run_create(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_command_prints_a_working_token_once_and_stores_only_its_hash(client, viewer):
    secret, notice = run_create("viewer", "--name", "n8n monitor")

    assert secret.startswith("lsp_") and len(secret) > 40
    assert "shown once" in notice
    token = ApiToken.objects.get()
    assert (token.user, token.name, token.prefix) == (viewer, "n8n monitor", secret[:12])
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = [str(value) for value in ApiToken.objects.values_list().get()]
    assert secret not in stored
    assert client.get(API_URL, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200


def test_each_token_is_different(viewer):
    assert run_create("viewer")[0] != run_create("viewer")[0]
    assert ApiToken.objects.count() == 2


def test_command_refuses_unknown_user(db):
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        run_create("ghost")
    assert not ApiToken.objects.exists()


def test_command_warns_when_the_user_lacks_the_viewer_role(non_staff):
    secret, notice = run_create("nonstaff")
    assert secret.startswith("lsp_")
    assert "will get 403" in notice


def test_admin_lists_tokens_without_secrets(superuser_client, viewer):
    secret, _ = run_create("viewer", "--name", "grafana")
    page = superuser_client.get(reverse("admin:monitoring_apitoken_changelist")).content.decode()
    assert "grafana" in page and secret[:12] in page
    assert secret not in page and ApiToken.objects.get().token_hash not in page


def test_admin_has_no_add_form(superuser_client):
    assert superuser_client.get(reverse("admin:monitoring_apitoken_add")).status_code == 403


def test_admin_revoke_action_locks_the_token_out(client, superuser_client, viewer):
    secret, _ = run_create("viewer")
    token = ApiToken.objects.get()
    response = superuser_client.post(
        reverse("admin:monitoring_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
        follow=True,
    )
    assert "Revoked 1 token(s)." in response.content.decode()
    token.refresh_from_db()
    assert token.is_revoked
    assert client.get(API_URL, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401


def test_admin_refuses_portal_viewers(viewer_client):
    # Viewers are staff but have no permission on tokens: the admin must not list anyone's.
    assert viewer_client.get(reverse("admin:monitoring_apitoken_changelist")).status_code == 403


def test_admin_filters_live_and_revoked(superuser_client, viewer):
    run_create("viewer", "--name", "kept")
    run_create("viewer", "--name", "dropped")
    revoke_api_tokens(ApiToken.objects.filter(name="dropped"))
    url = reverse("admin:monitoring_apitoken_changelist")
    live = superuser_client.get(url, {"state": "live"}).content.decode()
    revoked = superuser_client.get(url, {"state": "revoked"}).content.decode()
    assert ">kept<" in live and ">dropped<" not in live
    assert ">dropped<" in revoked and ">kept<" not in revoked


def test_revoking_twice_changes_nothing_the_second_time(viewer):
    run_create("viewer")
    assert revoke_api_tokens(ApiToken.objects.all()) == 1
    first_revoked_at = ApiToken.objects.get().revoked_at
    assert revoke_api_tokens(ApiToken.objects.all()) == 0
    assert ApiToken.objects.get().revoked_at == first_revoked_at


def test_last_used_is_written_at_most_once_a_minute(viewer):
    secret, _ = run_create("viewer")
    recent = timezone.now() - timedelta(seconds=30)
    ApiToken.objects.update(last_used_at=recent)
    assert authenticate_api_token(secret) is not None
    assert ApiToken.objects.get().last_used_at == recent
    stale = timezone.now() - timedelta(minutes=2)
    ApiToken.objects.update(last_used_at=stale)
    assert authenticate_api_token(secret) is not None
    assert ApiToken.objects.get().last_used_at > stale + timedelta(seconds=60)
