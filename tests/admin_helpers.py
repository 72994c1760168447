"""Shared helpers of the admin tests: post an action through the changelist like the browser does."""
from __future__ import annotations

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse

LEAD_CHANGELIST = reverse("admin:monitoring_lead_changelist")


def action_page(client: Client, action: str, leads, *, query: str = "", select_across: bool = False):
    """Step 1: pick the action on the changelist -> the confirmation page."""
    data = {
        "action": action,
        ACTION_CHECKBOX_NAME: [str(lead.pk) for lead in leads],
        "index": 0,
        "select_across": "1" if select_across else "0",
    }
    return client.post(LEAD_CHANGELIST + query, data)


def confirm_action(client: Client, action: str, leads, *, query: str = "", select_across: bool = False, **fields):
    """Step 2: the confirmation page's form (no `index`, with `confirm`)."""
    data = {
        "action": action,
        ACTION_CHECKBOX_NAME: [str(lead.pk) for lead in leads],
        "select_across": "1" if select_across else "0",
        "confirm": "yes",
        **fields,
    }
    return client.post(LEAD_CHANGELIST + query, data)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]
