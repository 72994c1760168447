"""The repair confirmation's numbers (issue 13.6): counted on the server for both states of the
quarantine box, only the skip reasons that apply, and equal to what confirming then changes."""
from __future__ import annotations

import html
import re

import pytest
from django.db import transaction

from monitoring.choices import LeadSyncStatus
from monitoring.models import Lead
from tests.admin_helpers import action_page, confirm_action, messages_of


def summaries(response) -> dict[str, dict]:
    """state -> {will_touch, skipped, text, hidden} from the page's summary paragraphs."""
    page = response.content.decode()
    found = {}
    for state, attrs, body in re.findall(r'<p class="repair-summary" data-quarantine-state="(\w+)"([^>]*)>(.*?)</p>', page, re.S):
        text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", body)).strip())
        skipped = re.search(r"(\d+) skipped", text)
        found[state] = {
            "will_touch": int(re.search(r"(\d+) will be changed", text).group(1)),
            "skipped": int(skipped.group(1)) if skipped else 0,
            "text": text,
            "hidden": "hidden" in attrs,
        }
    return found


def button(response) -> dict[str, str]:
    tag = re.search(r'<input type="submit" id="confirm-repair"[^>]*>', response.content.decode(), re.S).group(0)
    return dict(re.findall(r'(value|data-label-with|data-label-without)="([^"]*)"', tag))


def outcome(client, action: str, leads, **fields) -> tuple[int, int]:
    """(changed, skipped) of actually confirming, rolled back afterwards so the next state starts clean."""
    with transaction.atomic():
        response = confirm_action(client, action, leads, reason="check the counts", **fields)
        message = messages_of(response)[-1]
        transaction.set_rollback(True)
    changed, skipped = re.search(r": (\d+) leads? changed, (\d+) skipped", message).groups()
    return int(changed), int(skipped)


def test_ticking_the_quarantine_box_shows_the_counts_it_will_change(operator_client, sync_dataset):
    """Issue: with three quarantined leads selected, the page said "0 will be changed" and
    "Yes, retry sync 0 leads" whatever the box; confirming with the box ticked changed 3."""
    d = sync_dataset
    for name in ("Q1", "Q2"):
        Lead.objects.create(first_name=name, sync_status=LeadSyncStatus.ERROR, sync_error_count=9)
    chosen = [d.alan, *Lead.objects.filter(first_name__in=["Q1", "Q2"])]
    response = action_page(operator_client, "retry_sync", chosen)
    states = summaries(response)
    assert (states["without"]["will_touch"], states["with"]["will_touch"]) == (0, 3)
    assert not states["without"]["hidden"] and states["with"]["hidden"]  # the box starts unticked
    assert button(response) == {"value": "Yes, retry sync 0 leads", "data-label-without": "Yes, retry sync 0 leads",
                                "data-label-with": "Yes, retry sync 3 leads"}
    assert outcome(operator_client, "retry_sync", chosen, include_quarantined="on") == (3, 0)
    assert outcome(operator_client, "retry_sync", chosen) == (0, 3)


def test_skip_reasons_name_only_what_applies(operator_client, sync_dataset):
    d = sync_dataset
    # alan is quarantined (7 errors), katherine is retryable; nobody is in 'syncing'.
    states = summaries(action_page(operator_client, "retry_sync", [d.alan, d.katherine]))
    assert "1 skipped: 1 quarantined: more than 5 errors (tick the box below to include them)" in states["without"]["text"]
    assert "syncing" not in states["without"]["text"]
    assert "none skipped" in states["with"]["text"] and "tick the box" not in states["with"]["text"]
    # edsger is syncing: that is the only reason, in both states.
    states = summaries(action_page(operator_client, "retry_sync", [d.edsger, d.katherine]))
    for state in ("without", "with"):
        assert "1 skipped: 1 in 'syncing'" in states[state]["text"] and "quarantined" not in states[state]["text"]
    # Everything eligible: no reason at all.
    states = summaries(action_page(operator_client, "clear_error_count", [d.alan, d.katherine]))
    assert set(states) == {"without"} and "none skipped" in states["without"]["text"]


@pytest.mark.parametrize(
    ("action", "extra"),
    [
        ("retry_sync", {}),
        ("retry_sync", {"include_quarantined": "on"}),
        ("reset_stuck", {}),
        ("clear_error_count", {}),
        ("resolve_conflict", {"winner": "twenty_to_supabase"}),
    ],
)
def test_confirmation_numbers_match_what_the_repair_changes(operator_client, sync_dataset, action, extra):
    """Every lead of the dataset selected: the page's numbers for the state the form will be
    submitted in are exactly the service's outcome."""
    leads = list(Lead.objects.all())
    states = summaries(action_page(operator_client, action, leads))
    state = states["with" if extra.get("include_quarantined") else "without"]
    changed, skipped = outcome(operator_client, action, leads, **extra)
    assert (state["will_touch"], state["skipped"]) == (changed, skipped)
    # The skip reasons add up to the skipped count.
    reasons = re.search(r"skipped: (.*?)\. At most", state["text"])
    listed = sum(int(n) for n in re.findall(r"(?:^|; )(\d+) ", reasons.group(1))) if reasons else 0
    assert listed == skipped
