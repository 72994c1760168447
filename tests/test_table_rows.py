"""The table_rows tag renders every cell exactly as django-tables2's own BoundRow.items() does."""
from __future__ import annotations

import re
from datetime import datetime

import pytest
import time_machine
from django.urls import reverse

from monitoring.models import Lead
from monitoring.navigation import NAVIGATION
from monitoring.services.demo_data import seed_demo
from monitoring.templatetags import portal

ANCHOR = datetime.fromisoformat("2026-11-30T12:00:00+00:00")
# Per-request values: the CSRF token is masked afresh and the CSP nonce is new on every response.
PER_REQUEST = re.compile(r'(name="csrfmiddlewaretoken" value="|nonce=")[^"]*')


def by_items(row, column):
    """What the tag rendered before it skipped BoundRow.items()' lookup of each column by name."""
    return dict((c.name, cell) for c, cell in row.items())[column.name]


@pytest.mark.parametrize("page", [name for name, _ in NAVIGATION] + ["lead_detail"])
def test_every_page_renders_the_same_cells_as_django_tables2(superuser_client, monkeypatch, page):
    with time_machine.travel(ANCHOR, tick=False):
        seed_demo(leads=300, history=3_000, days=5, seed=11, now=ANCHOR)
        lead = Lead.objects.filter(sync_status="error").order_by("id").first()
        url = reverse("monitoring:lead-detail", args=[lead.pk]) if page == "lead_detail" else reverse(page)

        def body() -> str:
            response = superuser_client.get(url, {"per_page": 100} if page != "lead_detail" else {})
            assert response.status_code == 200
            return PER_REQUEST.sub(r"\1…", response.content.decode())

        fast = body()
        monkeypatch.setattr(portal, "_cell", by_items)
        assert body() == fast
    assert fast.count("<td") >= 3  # the page has a table with rows to compare
