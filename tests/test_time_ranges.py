"""Time ranges (issue 13.2): the picker on Performance, Lead flow, Error groups and Activity; the
range in the URL and carried by the navigation; buckets that follow the range; chart and table
over the same buckets; partial buckets marked; bad ranges answer 400 with the reason."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring.models import LeadSyncHistory
from monitoring.selectors import ranges

from .test_portal_pages import chart_config, html, rows_of, text_of

RANGE_PAGES = ["monitoring:performance", "monitoring:lead-flow", "monitoring:error-groups", "monitoring:activity"]


@pytest.mark.parametrize(
    ("key", "span", "bucket"),
    [
        ("1h", timedelta(hours=1), timedelta(minutes=1)),
        ("6h", timedelta(hours=6), timedelta(minutes=5)),
        ("24h", timedelta(hours=24), timedelta(hours=1)),
        ("7d", timedelta(days=7), timedelta(hours=6)),
        ("30d", timedelta(days=30), timedelta(days=1)),
    ],
)
def test_presets_pick_span_and_bucket(key, span, bucket):
    now = datetime(2026, 11, 30, 14, 7, 30, tzinfo=dt_timezone.utc)
    r = ranges.parse_range({"range": key}, default="24h", now=now)
    assert (r.start, r.end, r.bucket, r.ends_now) == (now - span, now, bucket, True)
    starts = ranges.bucket_starts(r)
    # Both ends are cut (the range starts and ends mid-bucket) and marked partial.
    assert ranges.is_partial(r, starts[0]) and ranges.is_partial(r, starts[-1])
    assert not any(ranges.is_partial(r, s) for s in starts[1:-1])


def test_custom_range_on_bucket_edges_has_no_partial_bucket(settings):
    settings.TIME_ZONE = "UTC"
    r = ranges.parse_range({"range": "custom", "from": "2026-11-30T10:00", "to": "2026-11-30T14:00"}, default="24h",
                           now=datetime(2026, 12, 1, tzinfo=dt_timezone.utc))
    assert r.bucket == timedelta(minutes=5)  # 4 h in 5-minute buckets: 48 <= 100
    starts = ranges.bucket_starts(r)
    assert len(starts) == 48 and not any(ranges.is_partial(r, s) for s in starts)
    long = ranges.parse_range({"from": "2026-01-01", "to": "2026-11-30"}, default="24h",
                              now=datetime(2026, 12, 1, tzinfo=dt_timezone.utc))
    assert long.key == "custom" and long.bucket == timedelta(days=7)  # 333 days: weeks


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"range": "2w"}, "Unknown time range “2w”; use one of 1h, 6h, 24h, 7d, 30d, custom."),
        ({"range": "custom", "from": "2026-11-30T10:00"}, "A custom range needs both “from” and “to”."),
        ({"range": "custom", "from": "yesterday", "to": "2026-11-30T10:00"}, "“from” must be a date and time like"),
        ({"range": "custom", "from": "2026-11-30T10:00", "to": "2026-11-30T09:00"}, "“to” must be later than “from”."),
        ({"range": "custom", "from": "2024-01-01T00:00", "to": "2026-11-30T00:00"}, "may span at most 400 days"),
    ],
)
@pytest.mark.parametrize("page", RANGE_PAGES)
def test_a_bad_range_answers_400_with_the_reason(viewer_client, db, page, query, reason):
    response = viewer_client.get(reverse(page), query)
    assert response.status_code == 400
    assert reason in text_of(response)


def test_activity_data_refuses_a_bad_range(viewer_client, db):
    response = viewer_client.get(reverse("monitoring:activity-data"), {"range": "forever"})
    assert response.status_code == 400 and "Unknown time range" in response.json()["error"]


def test_performance_7d_buckets_chart_and_table_agree(viewer_client, sync_dataset):
    response = viewer_client.get(reverse("monitoring:performance"), {"range": "7d"})
    assert response.status_code == 200
    assert "Performance: last 7 d" in text_of(response)
    chart = chart_config(response, "performance")
    _seconds, attempts, errors = chart["data"]["datasets"]
    rows = rows_of(response, "buckets")
    assert len(rows) == len(attempts["data"]) == 29  # 7 days of 6-hour blocks, both ends partial
    assert sum(attempts["data"]) == 8 and sum(errors["data"]) == 3  # all eight attempts, edsger's 25 h one too
    # Table newest first, chart oldest first: the same numbers bucket by bucket.
    assert [int(row.split()[-3]) for row in rows] == list(reversed(attempts["data"]))
    assert rows[0].split(" UTC")[1].startswith(" (partial)") and rows[-1].split(" UTC")[1].startswith(" (partial)")
    assert chart["data"]["labels"][0].endswith("(partial)") and chart["data"]["labels"][-1].endswith("(partial)")
    assert sum(label.endswith("(partial)") for label in chart["data"]["labels"]) == 2


def test_performance_custom_range_counts_exact_hours(viewer_client, sync_dataset, settings):
    settings.TIME_ZONE = "UTC"
    now = sync_dataset.now
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=30)  # 30 hours: hour buckets (15-minute ones would be 120 > 100)
    response = viewer_client.get(reverse("monitoring:performance"), {
        "range": "custom", "from": f"{start:%Y-%m-%dT%H:%M}", "to": f"{end:%Y-%m-%dT%H:%M}"})
    assert response.status_code == 200
    rows = rows_of(response, "buckets")
    assert len(rows) == 30 and not any("(partial)" in row for row in rows)  # on the hour: no partial bucket
    in_range = LeadSyncHistory.objects.filter(synced_at__gt=start, synced_at__lte=end).count()
    assert sum(int(row.split()[-3]) for row in rows) == in_range == 8


def test_navigation_carries_the_range_to_the_other_range_pages(viewer_client, sync_dataset):
    body = html(viewer_client.get(reverse("monitoring:performance"), {"range": "7d"}))
    nav = body.split('class="mainnav"', 1)[1].split("</nav>", 1)[0]
    for page in RANGE_PAGES:
        assert f'href="{reverse(page)}?range=7d"' in nav
    assert f'href="{reverse("monitoring:overview")}"' in nav  # pages without a range get a plain link
    custom = {"range": "custom", "from": "2026-11-29T10:00", "to": "2026-11-29T16:00"}
    body = html(viewer_client.get(reverse("monitoring:error-groups"), custom))
    assert f'href="{reverse("monitoring:lead-flow")}?range=custom&amp;from=2026-11-29T10%3A00&amp;to=2026-11-29T16%3A00"' in body


def test_lead_flow_follows_the_range(viewer_client, sync_dataset):
    response = viewer_client.get(reverse("monitoring:lead-flow"), {"range": "24h"})
    chart = chart_config(response, "flow")
    assert len(chart["data"]["labels"]) == 25  # hourly buckets
    rows = rows_of(response, "flow")
    # linus (10 min), barbara (3 h) and katherine (5 h) are the leads created in the last 24 h.
    assert sum(sum(ds["data"]) for ds in chart["data"]["datasets"]) == 3
    assert len(rows) == 3
    assert [source for source in ("linkedin", "referral", "website") if any(f" {source} " in row for row in rows)] == [
        "linkedin", "referral", "website"]
    week = chart_config(viewer_client.get(reverse("monitoring:lead-flow")), "flow")  # default 7 d
    assert sum(sum(ds["data"]) for ds in week["data"]["datasets"]) == 8


def test_activity_range_shows_older_attempts(viewer_client, sync_dataset):
    assert len(rows_of(viewer_client.get(reverse("monitoring:activity")), "activity")) == 5  # last hour
    six = viewer_client.get(reverse("monitoring:activity"), {"range": "6h"})
    assert len(rows_of(six, "activity")) == 7  # + grace 2 h and alan 3 h
    assert f'data-url="{reverse("monitoring:activity-data")}?range=6h"' in html(six)
    data = viewer_client.get(reverse("monitoring:activity-data"), {"range": "6h"}).json()
    assert data["count"] == 7
    fixed = viewer_client.get(reverse("monitoring:activity"), {
        "from": f"{timezone.localtime(sync_dataset.now) - timedelta(hours=6):%Y-%m-%dT%H:%M}",
        "to": f"{timezone.localtime(sync_dataset.now):%Y-%m-%dT%H:%M}"})
    assert 'data-interval="0"' in html(fixed)  # a fixed range does not refresh


def test_error_groups_follow_the_range(viewer_client, sync_dataset):
    hour = rows_of(viewer_client.get(reverse("monitoring:error-groups"), {"range": "1h"}), "groups")
    # In the last hour: alan's 429 (20 min) and katherine's 500 (40 min), one each.
    assert [row.split(" 1 1 ", 1)[0] for row in hour] == [
        "Twenty API 429: rate limit exceeded for lead &lt;n&gt;", "Twenty API 500: internal error"]
    day = rows_of(viewer_client.get(reverse("monitoring:error-groups"), {"range": "24h"}), "groups")
    assert day[0].startswith("Twenty API 429: rate limit exceeded for lead &lt;n&gt; 2 1 ")
