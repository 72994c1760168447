"""The permission matrix of the other areas' admin pages: alert rules, channels, incidents, deliveries, API tokens.

Same five personas as tests/test_admin_permissions.py. Viewers may look at the alerting records
and change nothing; only superusers hold API tokens' and alert definitions' change permissions.
"""
from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from monitoring.models import AlertRule, ApiToken, Channel, ChannelKind, Delivery, Incident
from monitoring.services.api_tokens import create_api_token
from tests.test_admin_permissions import FORBIDDEN, LOGIN, OK, PERSONAS

# model -> view -> expected outcome for (anonymous, non_staff, viewer, operator, superuser)
MATRIX = {
    "alertrule": {
        "changelist": (LOGIN, LOGIN, OK, OK, OK),
        "change": (LOGIN, LOGIN, OK, OK, OK),  # view-only form for viewers and operators
        "add": (LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, OK),
        "delete": (LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, OK),
    },
    "channel": {
        "changelist": (LOGIN, LOGIN, OK, OK, OK),
        "change": (LOGIN, LOGIN, OK, OK, OK),
        "add": (LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, OK),
        "delete": (LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, OK),
    },
    "incident": {
        "changelist": (LOGIN, LOGIN, OK, OK, OK),
        "change": (LOGIN, LOGIN, OK, OK, OK),
        "add": (LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
        "delete": (LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, OK),
    },
    "delivery": {
        "changelist": (LOGIN, LOGIN, OK, OK, OK),
        "change": (LOGIN, LOGIN, OK, OK, OK),
        "add": (LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
        "delete": (LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, OK),
    },
    "apitoken": {
        "changelist": (LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, OK),
        "change": (LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, OK),
        "add": (LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
        "delete": (LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, OK),
    },
}
CASES = [(model, view) for model, views in MATRIX.items() for view in views]


@pytest.fixture
def client_of(request):
    return lambda persona: request.getfixturevalue(f"{persona}_client")


@pytest.fixture
def records(viewer) -> dict:
    rule = AlertRule.objects.order_by("pk").first()  # the migration's default rules
    channel = Channel.objects.create(name="ops mail", kind=ChannelKind.EMAIL, config={"to": ["ops@example.com"]},
                                     enabled=False, disabled_reason="bounced")
    now = timezone.now()
    incident = Incident.objects.create(
        rule=rule, severity=rule.severity, started_at=now, last_checked_at=now, last_notified_at=now, summary="stalled"
    )
    delivery = Delivery.objects.create(incident=incident, channel=channel, kind="firing", subject="s", body="b")
    token, _secret = create_api_token(user=viewer, name="n8n monitor")
    return {"alertrule": rule, "channel": channel, "incident": incident, "delivery": delivery, "apitoken": token}


def _url(model: str, view: str, records: dict) -> str:
    name = f"admin:monitoring_{model}_{view}"
    return reverse(name, args=[records[model].pk]) if view in ("change", "delete") else reverse(name)


@pytest.mark.parametrize("model,view", CASES)
@pytest.mark.parametrize("persona", PERSONAS)
def test_other_admin_page_access(model, view, persona, client_of, records):
    expected = MATRIX[model][view][PERSONAS.index(persona)]
    response = client_of(persona).get(_url(model, view, records))
    if expected == LOGIN:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    else:
        assert response.status_code == expected


@pytest.mark.parametrize("model", ["alertrule", "channel", "incident", "delivery"])
@pytest.mark.parametrize("persona", ["viewer", "operator"])
def test_view_only_personas_get_no_save_button_and_no_actions(model, persona, client_of, records):
    client = client_of(persona)
    change = client.get(_url(model, "change", records)).content.decode()
    assert 'name="_save"' not in change
    changelist = client.get(_url(model, "changelist", records)).content.decode()
    assert 'name="action"' not in changelist
    assert 'name="form-0-enabled"' not in changelist  # AlertRule's list_editable is not offered either


@pytest.mark.parametrize("persona", ["anonymous", "non_staff", "viewer", "operator"])
def test_alert_rule_edits_are_refused_server_side(persona, client_of, records):
    rule = records["alertrule"]
    before = AlertRule.objects.values().get(pk=rule.pk)
    client = client_of(persona)
    client.post(_url("alertrule", "change", records), {"name": "renamed", "enabled": ""})
    # The changelist's inline "enabled" box (list_editable), posted by hand.
    client.post(_url("alertrule", "changelist", records), {
        "form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-0-id": str(rule.pk), "_save": "Save",
    })
    client.post(_url("alertrule", "delete", records), {"post": "yes"})
    assert AlertRule.objects.values().get(pk=rule.pk) == before


@pytest.mark.parametrize("persona", ["anonymous", "non_staff", "viewer", "operator"])
def test_channel_actions_and_edits_are_refused(persona, client_of, records):
    channel = records["channel"]
    client = client_of(persona)
    for action in ("enable_channels", "send_test_message", "delete_selected"):
        client.post(_url("channel", "changelist", records),
                    {"action": action, ACTION_CHECKBOX_NAME: [channel.pk], "index": 0, "post": "yes"})
    client.post(_url("channel", "change", records), {"name": "hijacked", "kind": "email", "config": "{}"})
    channel.refresh_from_db()
    assert (channel.name, channel.enabled, channel.disabled_reason) == ("ops mail", False, "bounced")


def test_superuser_re_enables_a_channel(superuser_client, records):
    response = superuser_client.post(
        _url("channel", "changelist", records),
        {"action": "enable_channels", ACTION_CHECKBOX_NAME: [records["channel"].pk], "index": 0},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == ["1 channel(s) re-enabled."]
    assert Channel.objects.get(pk=records["channel"].pk).enabled is True


@pytest.mark.parametrize("model", ["incident", "delivery"])
@pytest.mark.parametrize("persona", ["anonymous", "non_staff", "viewer", "operator"])
def test_alert_records_cannot_be_deleted_below_superuser(model, persona, client_of, records):
    client = client_of(persona)
    client.post(_url(model, "delete", records), {"post": "yes"})
    client.post(_url(model, "changelist", records),
                {"action": "delete_selected", ACTION_CHECKBOX_NAME: [records[model].pk], "post": "yes"})
    assert type(records[model]).objects.filter(pk=records[model].pk).exists()


@pytest.mark.parametrize("persona", ["anonymous", "non_staff", "viewer", "operator"])
def test_api_token_revoke_is_refused(persona, client_of, records):
    client_of(persona).post(
        _url("apitoken", "changelist", records),
        {"action": "revoke", ACTION_CHECKBOX_NAME: [records["apitoken"].pk], "index": 0},
    )
    assert ApiToken.objects.get(pk=records["apitoken"].pk).revoked_at is None

