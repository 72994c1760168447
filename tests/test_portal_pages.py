"""Portal pages: access per persona, the hand-built dataset's exact numbers in the HTML, empty states."""
from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from monitoring.models import Lead
from monitoring.navigation import NAVIGATION

PAGES = [name for name, _label in NAVIGATION]


def html(response) -> str:
    return response.content.decode()


def chart_config(response, name: str) -> dict:
    match = re.search(rf'<script id="chart-{name}" type="application/json">(.*?)</script>', html(response), re.S)
    assert match, f"chart {name} not embedded"
    return json.loads(match.group(1))


def text_of(response) -> str:
    """The page's visible text with tags dropped and whitespace collapsed, for phrase assertions."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html(response)))


def rows_of(response, table_id: str = "rows") -> list[str]:
    block = html(response).split(f'id="table-{table_id}"', 1)[1]
    body = block.split("<tbody", 1)[1].split("</tbody>", 1)[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", tr.split(">", 1)[1])).strip() for tr in body.split("<tr")[1:]]


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_is_sent_to_login(anonymous_client, page):
    response = anonymous_client.get(reverse(page))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("page", PAGES + ["monitoring:activity-data"])
def test_non_staff_is_refused(non_staff_client, page):
    assert non_staff_client.get(reverse(page)).status_code == 403


def test_lead_detail_access(anonymous_client, non_staff_client, sync_dataset):
    url = reverse("monitoring:lead-detail", args=[sync_dataset.ada.pk])
    assert anonymous_client.get(url).status_code == 302
    assert non_staff_client.get(url).status_code == 403


@pytest.mark.parametrize("page", PAGES)
def test_every_page_has_the_layout(viewer_client, sync_dataset, page):
    response = viewer_client.get(reverse(page))
    assert response.status_code == 200
    body = html(response)
    for url_name, label in NAVIGATION:
        assert f'href="{reverse(url_name)}"' in body and label in body
    assert "viewer" in body and "Times in UTC" in body and "Log out" in body
    assert "/static/monitoring/portal.css" in body
    # Nothing loads from elsewhere (closed network). Checked on src/href only: "cdn" can turn up by
    # chance in the random CSRF token of the logout form.
    assert re.findall(r'(?:src|href)="([^"]*)"', body) and not [
        url for url in re.findall(r'(?:src|href)="([^"]*)"', body) if "//" in url or "cdn" in url.lower()
    ]
    assert "https://" not in body and "http://" not in body


@pytest.mark.parametrize("page", PAGES)
def test_every_page_has_an_empty_state(viewer_client, page):
    response = viewer_client.get(reverse(page))
    assert response.status_code == 200
    assert re.search(r"No (leads|rows|sync attempts|failed attempts|webhook|stuck|data|incidents)|is empty|nothing to judge|archived yet", html(response))


def _alert_check_completed() -> None:
    """One finished alert check, so the headline is past "starting up"."""
    from django.utils import timezone

    from monitoring.models import JobOutcome, JobRun
    from monitoring.selectors.jobs import ALERT_CHECK_TASK

    now = timezone.now()
    JobRun.objects.create(task_name=ALERT_CHECK_TASK, started_at=now, finished_at=now, outcome=JobOutcome.SUCCEEDED)


def test_overview_numbers(viewer_client, sync_dataset):
    _alert_check_completed()
    response = viewer_client.get(reverse("monitoring:overview"))
    text = text_of(response)
    assert "Sync health: critical" in text
    assert 'class="card health health-critical"' in html(response)
    assert "Leads now 8 " in text
    assert "2 synced · 2 pending · 2 in error · 1 syncing · 1 conflict" in text
    assert "Leads synced, of those due 28.57 %" in text
    assert "Median attempt time, last 24 h ≈ 5.1 s" in text
    assert "Failed attempts, last 24 h 3 failed attempts in the last 24 h, 2 leads affected" in text
    assert "(approximate, ±2 %)" in text
    assert "1 stuck · 1 stale pending · 2 never synced" in text
    assert "Leads in error now 25.00 % 2 of 8 leads have sync status “error”" in text
    assert 'class="figure band-red" id="leads-in-error-rate"' in html(response)
    statuses = {row.split()[0]: row.split()[1:3] for row in rows_of(response, "status")}
    assert statuses == {"Synced": ["2", "25.00"], "Pending": ["2", "25.00"], "Error": ["2", "25.00"],
                        "Syncing": ["1", "12.50"], "Conflict": ["1", "12.50"]}
    pie = chart_config(response, "status_pie")
    assert dict(zip(pie["data"]["labels"], pie["data"]["datasets"][0]["data"])) == {
        "Synced": 2, "Pending": 2, "Error": 2, "Syncing": 1, "Conflict": 1}


def test_overview_labels_every_figure_with_what_it_counts_and_its_window(viewer_client, sync_dataset):
    """Issue 13.1: the success card called attempts "synced"; now attempts are attempts, with their window."""
    text = text_of(viewer_client.get(reverse("monitoring:overview")))
    # 5 attempts in the last hour, 2 failed (selectors.failure_rate, the critical alert's number).
    assert "Sync attempts, last hour 5 attempts in the last hour: 5, failed 2 (40.0 %)" in text
    assert "synced in the last hour" not in text
    assert "4 leads had a sync attempt in the last hour" in text


def test_overview_figures_link_to_the_page_that_explains_them(viewer_client, sync_dataset):
    body = html(viewer_client.get(reverse("monitoring:overview")))
    cards = {card_id: body.split(f'id="{card_id}"', 1)[1].split("</div>", 1)[0]
             for card_id in ("card-attempts", "card-leads", "card-success", "card-median", "card-errors-24h", "card-last-error")}
    assert f'href="{reverse("monitoring:performance")}?range=1h"' in cards["card-attempts"]
    assert f'href="{reverse("monitoring:leads")}?sync_status=error"' in cards["card-leads"]
    assert f'href="{reverse("monitoring:leads")}?sync_status=synced"' in cards["card-success"]
    assert f'href="{reverse("monitoring:performance")}?range=24h"' in cards["card-median"]
    assert f'href="{reverse("monitoring:error-groups")}?range=24h"' in cards["card-errors-24h"]
    assert f'href="{reverse("monitoring:errors")}"' in cards["card-last-error"]


def test_overview_gauge_shows_its_scale_bands_and_value(viewer_client, sync_dataset):
    body = html(viewer_client.get(reverse("monitoring:overview")))
    svg = body.split('id="error-gauge"', 1)[1].split("</svg>", 1)[0]
    assert [re.sub(r"<[^>]+>", "", t) for t in re.findall(r'<text class="gauge-scale"[^>]*>[^<]*</text>', svg)] == [
        "0", "5", "10", "20 %"]
    assert re.findall(r'class="gauge-band gauge-band-(\w+)"', svg) == ["green", "yellow", "red"]
    assert 'class="gauge-needle"' in svg
    assert ">25.00 %</text>" in svg and ">(off the scale)</text>" in svg  # past the 0-20 % dial: said, not hidden
    assert 'aria-label="Leads in error now: 25.00 % (off the scale); scale 0 to 20 %"' in svg


def test_overview_shows_the_last_hour_failure_rate_the_alert_uses(viewer_client, sync_dataset):
    response = viewer_client.get(reverse("monitoring:overview"))
    assert "Failed attempts, last hour 40.0 % 2 of 5 sync attempts in the last hour failed." in text_of(response)
    assert 'class="figure band-red" id="failure-rate"' in html(response)


def test_overview_headline_is_never_milder_than_a_firing_alert(viewer_client, db):
    """Issue 13.1: 27 % failed attempts with the critical failure-rate alert firing read "warning"."""
    from django.utils import timezone

    from monitoring.models import AlertRule, Incident, RuleKind

    _alert_check_completed()
    now = timezone.now()
    rule = AlertRule.objects.get(kind=RuleKind.FAILURE_RATE)
    Incident.objects.create(rule=rule, severity="critical", started_at=now, last_checked_at=now,
                            last_notified_at=now, summary="27.32 % of attempts failed in the last hour")
    response = viewer_client.get(reverse("monitoring:overview"))
    assert "Sync health: critical" in text_of(response)
    assert 'class="card health health-critical"' in html(response)
    reasons = html(response).split('aria-label="Why"', 1)[1]
    assert "critical alert firing: " + rule.name in reasons and "27.32 % of attempts failed" in reasons


@pytest.mark.parametrize(
    ("health", "firing", "starting", "expected"),
    [
        ("warning", ["critical"], False, "critical"),
        ("healthy", ["warning"], False, "warning"),
        ("critical", ["warning"], False, "critical"),
        ("healthy", [], False, "healthy"),
        ("unknown", [], False, "unknown"),
        ("healthy", [], True, "starting"),
        ("unknown", [], True, "starting"),
        ("warning", [], True, "warning"),  # starting up never hides what the data already shows
    ],
)
def test_headline_rule(health, firing, starting, expected):
    from monitoring.selectors.overview import headline_state

    assert headline_state(health_state=health, firing_severities=firing, alerts_starting=starting) == expected


def test_overview_is_starting_up_before_the_first_alert_check(viewer_client):
    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask

    from monitoring.selectors.jobs import ALERT_CHECK_TASK

    # A fresh install: the check was scheduled just now. Migration 0041 saved the schedule when this
    # test database was built, and a --reuse-db database or a long run can put that more than three
    # intervals (15 min) back, when the headline rightly turns red instead.
    PeriodicTask.objects.filter(task=ALERT_CHECK_TASK).update(date_changed=timezone.now())
    response = viewer_client.get(reverse("monitoring:overview"))
    assert "Sync health: starting up" in text_of(response)
    assert "health-starting" in html(response)
    assert "The first alert check has not completed yet" in text_of(response)


@pytest.mark.parametrize(
    ("error_rate", "success_rate", "expected"),
    [
        ("5.00", "95.00", []),
        ("5.01", "95.00", ["5.01 % of leads in error (warning above 5 %)"]),
        ("10.01", "94.99", ["10.01 % of leads in error (critical above 10 %)", "success rate 94.99 % (warning below 95 %)"]),
        ("0.00", "89.99", ["success rate 89.99 % (critical below 90 %)"]),
    ],
)
def test_health_reasons_follow_the_views_thresholds(error_rate, success_rate, expected):
    from decimal import Decimal

    from monitoring.views.dashboard import health_reasons

    health = {"overall_health": "warning", "error_rate": Decimal(error_rate), "sync_success_rate": Decimal(success_rate),
              "stuck_leads": 0, "conflict_leads": 0, "stale_pending_leads": 0}
    assert [text for text, _url in health_reasons(health)] == expected


def test_overview_is_unknown_and_grey_on_an_empty_database(viewer_client):
    _alert_check_completed()
    response = viewer_client.get(reverse("monitoring:overview"))
    assert "Sync health: unknown" in text_of(response)
    assert "health-unknown" in html(response)
    assert "No leads yet." in html(response)
    assert "No data to chart yet." in html(response)


def test_performance_numbers(viewer_client, sync_dataset):
    response = viewer_client.get(reverse("monitoring:performance"))
    chart = chart_config(response, "performance")
    seconds, attempts, errors = chart["data"]["datasets"]
    # The last 24 h touch 25 hour buckets (the first and the current one partial): all on the axis.
    assert len(attempts["data"]) == 25
    assert sum(attempts["data"]) == 7  # every attempt but edsger's 25 h old one
    assert sum(errors["data"]) == 3
    rows = rows_of(response, "buckets")
    assert len(rows) == 25  # the table shows the same buckets as the chart (was 24 bars, 25 rows)
    assert sum(int(row.split()[-3]) for row in rows) == 7  # "YYYY-MM-DD HH:MM UTC [(partial)] attempts errors avg"
    assert all(" UTC" in row for row in rows)


def test_lead_flow_numbers(viewer_client, sync_dataset):
    response = viewer_client.get(reverse("monitoring:lead-flow"))
    chart = chart_config(response, "flow")
    totals = {ds["label"]: sum(ds["data"]) for ds in chart["data"]["datasets"]}
    assert totals == {"website": 4, "referral": 3, "linkedin": 1}
    assert sum(int(row.split()[-2]) for row in rows_of(response, "flow")) == 8


def test_lead_flow_gives_each_source_its_own_colour(viewer_client, sync_dataset):
    from monitoring.models import Lead

    for source in ("cold_outreach", "google_ads", "import", "partner", "trade_show", "webinar"):
        Lead.objects.create(first_name=source, lead_source=source)
    datasets = chart_config(viewer_client.get(reverse("monitoring:lead-flow")), "flow")["data"]["datasets"]
    assert len(datasets) == 9  # seed_demo's nine sources
    assert len({ds["backgroundColor"] for ds in datasets}) == 9


def test_segment_numbers(viewer_client, sync_dataset):
    response = viewer_client.get(reverse("monitoring:segments"))
    assert rows_of(response, "segments") == [
        "Enterprise 3 1 2 73.33 0.700",
        "SMB 3 1 2 75.00 0.783",
        "(no segment) 2 0 0 35.00 —",
    ]
    chart = chart_config(response, "segments")
    assert chart["data"]["labels"] == ["Enterprise", "SMB", "(no segment)"]
    assert chart["data"]["datasets"][0]["data"] == [3, 3, 2]


def test_errors_page_orders_as_the_spec_with_last_error_detail(viewer_client, sync_dataset):
    response = viewer_client.get(reverse("monitoring:errors"))
    assert "2 leads in error in total." in text_of(response)
    rows = rows_of(response)
    assert len(rows) == 2
    assert rows[0].startswith("Alan Turing alan@example.com Twenty API 429: rate limit exceeded 7 ")
    assert rows[0].endswith("Twenty API 429: rate limit exceeded for lead 123 Twenty → Supabase website Enterprise")
    assert rows[1].startswith("Katherine katherine@example.com Twenty API 500: internal error 2 ")
    assert f'href="{reverse("monitoring:lead-detail", args=[sync_dataset.alan.pk])}"' in html(response)


def test_errors_page_count_is_live_and_reads_only_the_lead_rollup(viewer_client, sync_dataset):
    """Issue 12: the Errors page computed the whole health row (duration histogram, 24 h error scan,
    probes) to print one number. Its count now comes from the lead rollup alone, and is live: a lead
    that goes into error before the compactor runs is counted at once."""
    from django.test.utils import CaptureQueriesContext

    from monitoring.choices import LeadSyncStatus

    Lead.objects.filter(pk=sync_dataset.ada.pk).update(sync_status=LeadSyncStatus.ERROR, sync_error_count=1)
    with CaptureQueriesContext(connection) as queries:
        response = viewer_client.get(reverse("monitoring:errors"))
    assert "3 leads in error in total." in text_of(response)
    assert len(rows_of(response)) == 3
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "rollup_lead_deltas" in sql
    assert "rollup_durations" not in sql and "rollup_history" not in sql


def test_error_groups_numbers(viewer_client, sync_dataset):
    response = viewer_client.get(reverse("monitoring:error-groups"))
    rows = rows_of(response, "groups")
    assert len(rows) == 2
    # fingerprint, failed attempts in the range (default 7 d), leads, (sparkline), first seen, last seen,
    # newest message, link
    assert rows[0].startswith("Twenty API 429: rate limit exceeded for lead &lt;n&gt; 2 1 ")
    assert rows[0].endswith("Twenty API 429: rate limit exceeded for lead 123 Show leads")
    assert rows[1].startswith("Twenty API 500: internal error 1 1 ")
    # 7 d in 6-hour blocks: 29 buckets (both ends partial); alan's two failures 3 h and 20 min ago.
    trend = re.search(r'aria-label="per bucket, oldest first: ([^"]+)"', html(response)).group(1).split(", ")
    assert len(trend) == 29 and sum(map(int, trend)) == 2
    assert "?error_group=Twenty+API+429%3A+rate+limit+exceeded+for+lead+%3Cn%3E" in html(response)


def test_error_group_link_lists_the_affected_leads(viewer_client, sync_dataset):
    response = viewer_client.get(
        reverse("monitoring:leads"), {"error_group": "Twenty API 429: rate limit exceeded for lead <n>"}
    )
    assert response.status_code == 200
    rows = rows_of(response)
    assert len(rows) == 1 and rows[0].startswith("Alan Turing")


def test_activity_page_and_json(viewer_client, sync_dataset):
    response = viewer_client.get(reverse("monitoring:activity"))
    rows = rows_of(response, "activity")
    assert len(rows) == 5
    assert rows[0].split(" UTC ")[1].startswith("Ada Lovelace")
    assert "Updated at" in html(response) and 'id="pause"' in html(response)
    data = viewer_client.get(reverse("monitoring:activity-data")).json()
    assert data["count"] == 5
    assert [row["lead_name"] for row in data["rows"]] == ["Ada Lovelace", "Alan Turing", "Donald Knuth", "Katherine", "Ada Lovelace"]
    assert data["updated_at_display"].endswith("UTC")
    assert data["rows"][0]["fields_changed"] == '{"email": ["old@example.com", "ada@example.com"]}'
    # What broke is on the page: each failed attempt's error message, in the table and the JSON.
    assert [row["error_message"] for row in data["rows"]] == [
        "—", "Twenty API 429: rate limit exceeded for lead 123", "—", "Twenty API 500: internal error", "—"]
    assert "Error Twenty API 429: rate limit exceeded for lead 123" in rows[1]
    assert '<code class="json">{&quot;email&quot;: [&quot;old@example.com&quot;, &quot;ada@example.com&quot;]}</code>' in html(response)


def test_daily_summary_with_refresh_time(viewer_client, sync_dataset):
    response = viewer_client.get(reverse("monitoring:daily-summary"))
    # Live from the rollups (issue 12): the rows are there before any refresh of the materialized view.
    assert "The materialized view lead_sync_daily_summary , a copy for SQL clients and Grafana, was last refreshed:" in text_of(response)
    assert "Days are UTC days" in html(response)
    assert sum(int(row.split()[-2]) for row in rows_of(response)) == 8
    with connection.cursor() as cursor:
        cursor.execute("SELECT refresh_daily_summary()")
    response = viewer_client.get(reverse("monitoring:daily-summary"))
    assert re.search(r"was last refreshed: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text_of(response))
    rows = rows_of(response)
    assert sum(int(row.split()[-2]) for row in rows) == 8  # attempts over all rows
    assert all("(UTC)" in row for row in rows)


def test_debug_numbers(viewer_client, sync_dataset):
    response = viewer_client.get(reverse("monitoring:debug"))
    text = text_of(response)
    assert "Stale pending leads 1 pending for more than an hour" in text
    assert "oldest created " + sync_dataset.barbara.created_at.strftime("%Y-%m-%d %H:%M:%S") + " UTC" in text
    stuck = rows_of(response, "stuck")
    assert len(stuck) == 1 and stuck[0].startswith("Edsger Dijkstra edsger@example.com")
    # Issue 13.7: no "Updated" column repeating "Syncing since".
    header = html(response).split('id="table-stuck"', 1)[1].split("</thead>", 1)[0]
    assert re.findall(r"<th[ >][^>]*>?\s*(?:<a[^>]*>)?([^<]+)", header) == ["Lead", "Email", "Company", "Direction", "Syncing since", "Errors"]
    assert sync_dataset.edsger.sync_started_at.strftime("%Y-%m-%d %H:%M:%S UTC") in stuck[0]
    assert sum(int(row.split()[-1]) for row in rows_of(response, "webhooks")) == 3
    assert sum(chart_config(response, "webhooks")["data"]["datasets"][0]["data"]) == 3


def test_numeric_headers_are_right_aligned_and_numbers_have_separators(viewer_client, sync_dataset):
    """Issue 13.7: numeric headers sat left over right-aligned numbers; 20000 had no separator."""
    from monitoring.models import Lead

    Lead.objects.bulk_create([Lead(first_name=f"bulk{i}", sync_status="synced") for i in range(1_200)])
    body = html(viewer_client.get(reverse("monitoring:overview")))
    assert "Leads now</a></h2><p class=\"big\">1,208</p>" in body
    header = body.split('id="table-status"', 1)[1].split("</thead>", 1)[0]
    assert re.findall(r'<th class="([^"]*)"', header)[1:3] == ["num orderable", "num orderable"]
    assert '<td class="num" data-label="Leads">1,202</td>' in body  # synced: 2 + 1,200


def test_stuck_leads_are_read_in_order_from_their_index(sync_dataset):
    """The Debug page's stuck table reads the first leads of idx_leads_syncing_since (migration 0120)
    instead of sorting every syncing lead: the plan has no Sort node."""
    from django.test.utils import CaptureQueriesContext

    from monitoring import selectors
    from monitoring.views.dashboard import STUCK_LIMIT

    with CaptureQueriesContext(connection) as queries:
        assert len(selectors.stuck_leads(limit=STUCK_LIMIT)) == 1
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a table of eight leads would be scanned
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN " + queries.captured_queries[0]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SELECT obj_description('idx_leads_syncing_since'::regclass, 'pg_class')")
        comment = cursor.fetchone()[0]
    assert "idx_leads_syncing_since" in plan and "Sort" not in plan
    assert comment.startswith("stuck_leads")


def test_lead_detail_shows_fields_and_timeline_newest_first(viewer_client, sync_dataset):
    response = viewer_client.get(reverse("monitoring:lead-detail", args=[sync_dataset.alan.pk]))
    assert response.status_code == 200
    text = text_of(response)
    assert "Lead: Alan Turing" in text
    for value in ("alan@example.com", "Bletchley", "Enterprise", "Twenty API 429: rate limit exceeded", "website",
                  "Status Error", "Direction Twenty → Supabase", "Errors 7", "Score 50"):
        assert value in text
    rows = rows_of(response)
    assert len(rows) == 2
    # Type, status, by (a repair's user), changes, error
    assert rows[0].endswith("Retry Error — — Twenty API 429: rate limit exceeded for lead 123")
    assert rows[1].endswith("Scheduled Error — — Twenty API 429: rate limit exceeded for lead 456")


def test_lead_detail_of_unknown_lead_is_404(viewer_client, db):
    url = reverse("monitoring:lead-detail", args=["00000000-0000-0000-0000-000000000000"])
    assert viewer_client.get(url).status_code == 404


def test_leads_list_shows_all_leads(viewer_client, sync_dataset):
    response = viewer_client.get(reverse("monitoring:leads"))
    assert len(rows_of(response)) == 8


@override_settings(SELECTOR_SNAPSHOT_TTL=60)
def test_overview_is_live_even_with_snapshots_on(viewer_client, sync_dataset):
    # Issue 12: the Overview reads the rollups; no snapshot, so no age and a new lead shows at once.
    viewer_client.get(reverse("monitoring:overview"))
    Lead.objects.create(first_name="New", sync_status="pending")
    response = viewer_client.get(reverse("monitoring:overview"))
    assert "Numbers as of" not in text_of(response)
    assert "Leads now 9 2 synced · 3 pending" in text_of(response)  # the card is labelled "Leads now" (issue 13)


def test_live_numbers_show_no_snapshot_age(viewer_client, sync_dataset):
    assert "Numbers as of" not in html(viewer_client.get(reverse("monitoring:overview")))


@override_settings(TIME_ZONE="Asia/Kolkata")
def test_display_zone_is_named_and_used_for_hours(viewer_client, sync_dataset):
    response = viewer_client.get(reverse("monitoring:performance"))
    assert "Times in Asia/Kolkata" in html(response)
    rows = rows_of(response, "buckets")
    assert rows and all(" IST" in row for row in rows)
    # Kolkata is UTC+5:30, so its hour buckets start at :00 local = :30 UTC.
    labels = chart_config(response, "performance")["data"]["labels"]
    assert all(label.split()[0].endswith(":00") for label in labels)
    assert sum(int(row.split()[-3]) for row in rows) == 7


@pytest.mark.parametrize(
    ("rate", "band"),
    [("0", "green"), ("5.00", "green"), ("5.01", "yellow"), ("10.00", "yellow"), ("10.01", "red"), (None, "unknown")],
)
def test_error_rate_bands_are_the_specs(rate, band):
    from decimal import Decimal

    from monitoring.views.dashboard import error_rate_band

    assert error_rate_band(Decimal(rate) if rate is not None else None) == band


def test_activity_page_polls_every_15_seconds(viewer_client, db):
    body = html(viewer_client.get(reverse("monitoring:activity")))
    assert f'data-url="{reverse("monitoring:activity-data")}?range=1h" data-interval="15000"' in body
    assert "/static/monitoring/activity.js" in body
