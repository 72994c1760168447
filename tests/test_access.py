"""Who may open portal pages."""
from __future__ import annotations

from django.urls import reverse


def test_overview_redirects_anonymous_to_login(anonymous_client):
    response = anonymous_client.get(reverse("monitoring:overview"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_overview_refuses_non_staff(non_staff_client):
    assert non_staff_client.get(reverse("monitoring:overview")).status_code == 403


def test_overview_shows_health_to_viewer(viewer_client, sync_dataset):
    response = viewer_client.get(reverse("monitoring:overview"))
    assert response.status_code == 200
    assert "Sync health: critical" in response.content.decode()
