"""The spec's dashboards as pages: selector rows + tables + charts, on the shared tables base.

Charts are built here as Chart.js configs and embedded with json_script (no second request);
static/monitoring/charts.js draws every <canvas data-chart>. Each chart's numbers are also in the
table next to it.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import django_tables2 as tables
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.views import View

from monitoring import selectors
from monitoring.selectors import overview, ranges
from monitoring.choices import LeadSyncStatus, OverallHealth
from monitoring.selectors.rollups import sync_time_quantiles
from monitoring.tables.portal import (
    LABELS,
    ActivityTable,
    ErrorGroupTable,
    PerformanceTable,
    LeadFlowTable,
    SegmentTable,
    StuckLeadTable,
    SyncStatusTable,
    WebhookRateTable,
    format_timestamp,
    json_text,
)

from .base import PortalAccessMixin
from .lists import PortalTablesView

# One colour per status, the same in badges (CSS) and charts.
STATUS_COLOURS = {
    LeadSyncStatus.SYNCED: "#2f9e44",
    LeadSyncStatus.PENDING: "#868e96",
    LeadSyncStatus.ERROR: "#e03131",
    LeadSyncStatus.SYNCING: "#1c7ed6",
    LeadSyncStatus.CONFLICT: "#f08c00",
}
# Distinct series colours (lead sources: seed_demo has nine); they repeat only past twelve series.
PALETTE = [
    "#1c7ed6", "#2f9e44", "#f08c00", "#ae3ec9", "#e03131", "#0c8599",
    "#5c940d", "#868e96", "#f783ac", "#364fc7", "#a0522d", "#fab005",
]

# The spec's error-rate gauge bands (Grafana panel 3): green 0-5 %, yellow 5-10 %, red > 10 %.
GAUGE_BANDS = ((Decimal(5), "green"), (Decimal(10), "yellow"))
GAUGE_MAX = 20  # the dial shows 0-20 %; anything above pins at the end, still red


# lead_sync_health_dashboard's overall_health rule (migration 0003), so the Overview can say why.
CRITICAL_ERROR_RATE, WARNING_ERROR_RATE = Decimal(10), Decimal(5)
CRITICAL_SUCCESS_RATE, WARNING_SUCCESS_RATE = Decimal(90), Decimal(95)

STUCK_LIMIT = 100


def _num(value: Any) -> float | int | None:
    """JSON numbers for Chart.js (Decimal would serialise as a string)."""
    if value is None:
        return None
    return value if isinstance(value, int) else float(value)


def error_rate_band(rate: Decimal | None) -> str:
    """green / yellow / red for an error rate in %, as the spec's gauge thresholds; 'unknown' when None."""
    if rate is None:
        return "unknown"
    for upper, band in GAUGE_BANDS:
        if rate <= upper:
            return band
    return "red"


def health_reasons(health: dict[str, Any]) -> list[tuple[str, str]]:
    """(what, link) for every condition that keeps overall_health from 'healthy', critical ones first."""
    error_rate, success_rate = health["error_rate"], health["sync_success_rate"]
    if health["overall_health"] == OverallHealth.UNKNOWN or error_rate is None or success_rate is None:
        return []
    errors_url, debug_url = reverse("monitoring:errors"), reverse("monitoring:debug")
    critical: list[tuple[str, str]] = []
    warning: list[tuple[str, str]] = []
    if error_rate > CRITICAL_ERROR_RATE:
        critical.append((f"{error_rate} % of leads in error (critical above {CRITICAL_ERROR_RATE} %)", errors_url))
    elif error_rate > WARNING_ERROR_RATE:
        warning.append((f"{error_rate} % of leads in error (warning above {WARNING_ERROR_RATE} %)", errors_url))
    if success_rate < CRITICAL_SUCCESS_RATE:
        critical.append((f"success rate {success_rate} % (critical below {CRITICAL_SUCCESS_RATE} %)", errors_url))
    elif success_rate < WARNING_SUCCESS_RATE:
        warning.append((f"success rate {success_rate} % (warning below {WARNING_SUCCESS_RATE} %)", errors_url))
    conflict_url = reverse("monitoring:leads") + f"?sync_status={LeadSyncStatus.CONFLICT}"
    for count, one, many, url in (
        (health["stuck_leads"], "lead stuck in syncing over 10 min", "leads stuck in syncing over 10 min", debug_url),
        (health["conflict_leads"], "lead in conflict", "leads in conflict", conflict_url),
        (health["stale_pending_leads"], "lead pending for over 1 h", "leads pending for over 1 h", debug_url),
    ):
        if count:
            warning.append((f"{count} {one if count == 1 else many}", url))
    return critical + warning


class DashboardView(PortalTablesView):
    """A dashboard page: tables from selectors plus charts and figures in the context."""

    def get_charts(self) -> dict[str, dict[str, Any]]:
        return {}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(charts=self.get_charts(), **kwargs)


class OverviewView(DashboardView):
    template_name = "monitoring/overview.html"
    export_name = "sync-status"
    snapshot_of = staticmethod(selectors.health_summary)

    def get_tables(self) -> dict[str, tables.Table]:
        self.health = selectors.health_summary()
        self.status_rows = selectors.sync_status_overview()
        return {"status": SyncStatusTable(self.status_rows)}

    def error_rate(self) -> Decimal | None:
        """The error share of leads from the sync-status breakdown (the spec's gauge source)."""
        if not self.status_rows:
            return None
        for row in self.status_rows:
            if row["sync_status"] == LeadSyncStatus.ERROR:
                return row["percentage"]
        return Decimal("0.00")

    def get_charts(self) -> dict[str, dict[str, Any]]:
        if not self.status_rows:
            return {}
        return {
            "status_pie": {
                "type": "pie",
                "data": {
                    "labels": [LABELS[r["sync_status"]] for r in self.status_rows],
                    "datasets": [{
                        "data": [r["lead_count"] for r in self.status_rows],
                        "backgroundColor": [STATUS_COLOURS.get(r["sync_status"], "#adb5bd") for r in self.status_rows],
                    }],
                },
                "options": {"plugins": {"legend": {"position": "right"}}},
            },
        }

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        rate = self.error_rate()
        failure = selectors.recent_failure_rate()
        top = overview.headline(health=self.health)
        return super().get_context_data(
            health=self.health,
            headline=top,
            health_known=self.health["overall_health"] != OverallHealth.UNKNOWN,
            health_reasons=alert_reasons(top.firing) + health_reasons(self.health),
            error_rate=rate,
            error_band=error_rate_band(rate),
            gauge_bands=[(0, 5, "green"), (5, 10, "yellow"), (10, GAUGE_MAX, "red")],
            gauge_max=GAUGE_MAX,
            failure=failure,
            failure_band=error_rate_band(failure["rate"]),
            links=overview_links(),
            **kwargs,
        )


def alert_reasons(firing: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(what, link) per firing alert: the headline is never milder than these, so they come first."""
    url = reverse("monitoring:alerts") + "#firing"
    return [(f"{alert['severity']} alert firing: {alert['rule']} — {alert['summary']}", url) for alert in firing]


def overview_links() -> dict[str, str]:
    """Where each Overview figure is explained (the range pages open on the figure's window)."""
    leads = reverse("monitoring:leads")
    return {
        "leads": leads,
        **{f"leads_{status}": f"{leads}?sync_status={status}" for status in LeadSyncStatus.values},
        "attempts_1h": reverse("monitoring:performance") + "?range=1h",
        "performance_24h": reverse("monitoring:performance") + "?range=24h",
        "error_groups_24h": reverse("monitoring:error-groups") + "?range=24h",
        "errors": reverse("monitoring:errors"),
        "debug": reverse("monitoring:debug"),
        "alerts": reverse("monitoring:alerts") + "#firing",
        "jobs": reverse("monitoring:jobs"),
    }


class RangeView(DashboardView):
    """A dashboard page over a time range picked in the URL (`?range=7d`, or custom from/to).

    A range the page cannot show answers 400 with the reason above the page (the default range
    is drawn below it, so the page stays usable).
    """

    default_range = "24h"

    @cached_property
    def time_range(self) -> ranges.TimeRange:
        try:
            return ranges.parse_range(self.request.GET, default=self.default_range)
        except ranges.RangeError as exc:
            self._error(str(exc))
            return ranges.parse_range({}, default=self.default_range)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        r = self.time_range
        return super().get_context_data(
            time_range=r,
            range_presets=[(key, ranges.PRESET_LABELS[key], key == r.key) for key in ranges.PRESETS],
            range_custom_from=r.query.get("from") or f"{timezone.localtime(r.start):%Y-%m-%dT%H:%M}",
            range_custom_to=r.query.get("to") or f"{timezone.localtime(r.end):%Y-%m-%dT%H:%M}",
            **kwargs,
        )


def bucket_label(r: ranges.TimeRange, start: Any, *, partial: bool) -> str:
    """A bucket's axis label in the display zone: time of day for short ranges, the date for days."""
    local = timezone.localtime(start)
    if r.bucket >= ranges.ONE_DAY:
        text = f"{local:%Y-%m-%d}"
    elif r.span > ranges.ONE_DAY:
        text = f"{local:%m-%d %H:%M}"
    else:
        text = f"{local:%H:%M}"
    return text + (" (partial)" if partial else "")


class PerformanceView(RangeView):
    template_name = "monitoring/performance.html"
    export_name = "performance"

    def get_tables(self) -> dict[str, tables.Table]:
        self.rows = ranges.attempts_per_bucket(self.time_range)
        # Newest first in the table; the chart reads the same rows oldest first.
        return {"buckets": PerformanceTable(list(reversed(self.rows)))}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        # Median / p95 / p99 of the day's synced attempts from the duration histograms (±2 %).
        return super().get_context_data(quantiles=sync_time_quantiles(), **kwargs)

    def get_charts(self) -> dict[str, dict[str, Any]]:
        if not any(r["attempts"] for r in self.rows):
            return {}
        rows = self.rows
        return {
            "performance": {
                "type": "bar",
                "data": {
                    "labels": [bucket_label(self.time_range, r["bucket"], partial=r["partial"]) for r in rows],
                    "datasets": [
                        {"type": "line", "label": "Avg time (s)", "data": [_num(r["avg_seconds"]) for r in rows],
                         "borderColor": "#f08c00", "backgroundColor": "#f08c00", "yAxisID": "seconds",
                         "spanGaps": True, "order": 0},
                        {"type": "bar", "label": "Attempts", "data": [r["attempts"] for r in rows],
                         "backgroundColor": "#1c7ed6", "yAxisID": "y", "order": 1},
                        {"type": "bar", "label": "Errors", "data": [r["errors"] for r in rows],
                         "backgroundColor": "#e03131", "yAxisID": "y", "order": 1},
                    ],
                },
                "options": {"scales": {
                    "y": {"beginAtZero": True, "ticks": {"precision": 0}, "title": {"display": True, "text": "attempts"}},
                    "seconds": {"beginAtZero": True, "position": "right", "grid": {"drawOnChartArea": False},
                                "title": {"display": True, "text": "seconds"}},
                }},
            }
        }


class LeadFlowView(RangeView):
    template_name = "monitoring/lead_flow.html"
    export_name = "lead-flow"
    default_range = "7d"

    def get_tables(self) -> dict[str, tables.Table]:
        self.rows = ranges.leads_created_per_bucket(self.time_range)
        return {"flow": LeadFlowTable(sorted(self.rows, key=lambda r: r["bucket"], reverse=True))}

    def get_charts(self) -> dict[str, dict[str, Any]]:
        if not self.rows:
            return {}
        r = self.time_range
        starts = ranges.bucket_starts(r)
        sources = sorted({row["lead_source"] or "(none)" for row in self.rows})
        counts: dict[tuple[Any, str], int] = {}
        for row in self.rows:
            key = (row["bucket"], row["lead_source"] or "(none)")
            counts[key] = counts.get(key, 0) + row["lead_count"]
        partial = {start: ranges.is_partial(r, start) for start in starts}
        return {
            "flow": {
                "type": "bar",
                "data": {
                    "labels": [bucket_label(r, start, partial=partial[start]) for start in starts],
                    "datasets": [
                        {"label": s, "data": [counts.get((start, s), 0) for start in starts],
                         "backgroundColor": PALETTE[i % len(PALETTE)]}
                        for i, s in enumerate(sources)
                    ],
                },
                "options": {"scales": {"x": {"stacked": True}, "y": {"stacked": True, "beginAtZero": True}}},
            }
        }


class SegmentsView(DashboardView):
    template_name = "monitoring/segments.html"
    export_name = "segments"
    snapshot_of = staticmethod(selectors.segment_distribution)

    def get_tables(self) -> dict[str, tables.Table]:
        self.rows = selectors.segment_distribution()
        return {"segments": SegmentTable(self.rows)}

    def get_charts(self) -> dict[str, dict[str, Any]]:
        if not self.rows:
            return {}
        labels = [r["segment_name"] or "(no segment)" for r in self.rows]
        return {
            "segments": {
                "type": "bar",
                "data": {
                    "labels": labels,
                    "datasets": [
                        {"label": "Leads", "data": [r["total_leads"] for r in self.rows], "backgroundColor": "#1c7ed6"},
                        {"label": "Synced", "data": [r["synced_leads"] for r in self.rows], "backgroundColor": "#2f9e44"},
                        {"label": "In Twenty", "data": [r["in_twenty"] for r in self.rows], "backgroundColor": "#ae3ec9"},
                    ],
                },
                "options": {"scales": {"y": {"beginAtZero": True}}},
            }
        }


class ErrorGroupsView(RangeView):
    template_name = "monitoring/error_groups.html"
    export_name = "error-groups"
    default_range = "7d"

    def get_tables(self) -> dict[str, tables.Table]:
        table = ErrorGroupTable(ranges.error_groups_in_range(self.time_range))
        table.columns["trend"].column.verbose_name = f"Trend (per {self.time_range.unit})"
        return {"groups": table}


def activity_rows_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Activity rows as the page's script renders them (text only: the script sets textContent)."""
    return [
        {
            "synced_at": format_timestamp(r["synced_at"]),
            "lead_name": r["lead_name"] or "—",
            "lead_url": reverse("monitoring:lead-detail", kwargs={"pk": r["lead_id"]}),
            "email": r["email"] or "—",
            "company_name": r["company_name"] or "—",
            "segment_name": r["segment_name"] or "—",
            "sync_type": r["sync_type"], "sync_type_label": LABELS.get(r["sync_type"], r["sync_type"]),
            "sync_direction": r["sync_direction"],
            "sync_direction_label": LABELS.get(r["sync_direction"], r["sync_direction"]),
            "sync_status": r["sync_status"], "sync_status_label": LABELS.get(r["sync_status"], r["sync_status"]),
            "error_message": r["error_message"] or "—",
            "fields_changed": json_text(r["fields_changed"]) or None,
        }
        for r in rows
    ]


class ActivityView(RangeView):
    template_name = "monitoring/activity.html"
    export_name = "activity"
    default_range = "1h"
    per_page = 100  # the view holds at most 100 rows: one page, so the live refresh replaces it whole

    def get_tables(self) -> dict[str, tables.Table]:
        return {"activity": ActivityTable(ranges.activity_in_range(self.time_range))}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        query = urlencode(self.time_range.query)
        return super().get_context_data(
            updated_at=timezone.now(),
            data_url=reverse("monitoring:activity-data") + "?" + query,
            **kwargs,
        )


class ActivityDataView(PortalAccessMixin, View):
    """JSON for the activity page's 15-second refresh (same range as the page)."""

    def get(self, request: HttpRequest) -> JsonResponse:
        now = timezone.now()
        try:
            r = ranges.parse_range(request.GET, default=ActivityView.default_range, now=now)
        except ranges.RangeError as exc:
            return JsonResponse({"error": str(exc)}, status=400)
        rows = ranges.activity_in_range(r)
        return JsonResponse({
            "updated_at": now.isoformat(),
            "updated_at_display": format_timestamp(now),
            "count": len(rows),
            "rows": activity_rows_json(rows),
        })


class DebugView(DashboardView):
    template_name = "monitoring/debug.html"
    export_name = "stuck-leads"
    snapshot_of = staticmethod(selectors.webhook_rate)

    def get_tables(self) -> dict[str, tables.Table]:
        self.webhook_rows = selectors.webhook_rate()
        return {
            "stuck": StuckLeadTable(selectors.stuck_leads(limit=STUCK_LIMIT)),
            "webhooks": WebhookRateTable(self.webhook_rows),
        }

    def get_charts(self) -> dict[str, dict[str, Any]]:
        if not self.webhook_rows:
            return {}
        rows = list(reversed(self.webhook_rows))
        return {
            "webhooks": {
                "type": "bar",
                "data": {
                    "labels": [timezone.localtime(r["minute"]).strftime("%H:%M") for r in rows],
                    "datasets": [{"label": "Webhook updates", "data": [r["webhook_count"] for r in rows],
                                  "backgroundColor": "#0c8599"}],
                },
                "options": {"scales": {"y": {"beginAtZero": True, "ticks": {"precision": 0}}}},
            }
        }

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(
            stale=selectors.stale_leads_summary(),
            stuck_limit=STUCK_LIMIT,
            **kwargs,
        )
