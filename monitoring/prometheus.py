"""/metrics for Prometheus: a collector that reads the selectors on every scrape.

No global mutable gauges: each scrape asks the same selectors the pages use, so the numbers
cannot drift from the dashboard and several web workers never disagree.
"""
from __future__ import annotations

from collections.abc import Iterator

from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from monitoring import selectors
from monitoring.choices import HistoryDirection, OverallHealth
from monitoring.models import JobOutcome
from monitoring.selectors import jobs as job_selectors
from monitoring.selectors import metrics as metric_selectors
from monitoring.selectors.alerts import firing_alerts


class LeadSyncCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        leads = GaugeMetricFamily("leadsync_leads", "Leads per sync status (view sync_monitoring).", labels=["status"])
        for row in selectors.sync_monitoring():
            leads.add_metric([row["sync_status"]], row["count"])
        yield leads

        attempts = GaugeMetricFamily(
            "leadsync_sync_attempts_last_hour", "Sync attempts in the last hour, by direction.", labels=["direction"]
        )
        errors = GaugeMetricFamily(
            "leadsync_sync_errors_last_hour", "Failed sync attempts in the last hour, by direction.", labels=["direction"]
        )
        for direction, row in metric_selectors.attempts_by_direction().items():
            attempts.add_metric([direction], row["attempts"])
            errors.add_metric([direction], row["errors"])
        yield attempts
        yield errors

        # All-time counters from the rollups: monotonic (an archive move never lowers them), so
        # rate()/increase() work across the weekly clean-up.
        totals = {
            "attempts": CounterMetricFamily(
                "leadsync_sync_attempts", "Sync attempts recorded since the rollups began, by direction.",
                labels=["direction"],
            ),
            "errors": CounterMetricFamily(
                "leadsync_sync_errors", "Sync attempts that entered 'error', by direction.", labels=["direction"]
            ),
            "conflicts": CounterMetricFamily(
                "leadsync_sync_conflicts", "Sync attempts that entered 'conflict', by direction.", labels=["direction"]
            ),
        }
        for row in metric_selectors.attempt_totals():
            for key, family in totals.items():
                family.add_metric([row["direction"]], row[key])
        yield from totals.values()

        health = selectors.health_summary()
        # Absent rather than a made-up number when the view cannot tell (no leads due yet).
        success = GaugeMetricFamily(
            "leadsync_sync_success_rate_percent",
            "Synced share of the leads the sync has had a chance at (lead_sync_health_dashboard).",
        )
        if health["sync_success_rate"] is not None:
            success.add_metric([], float(health["sync_success_rate"]))
        yield success
        error_rate = GaugeMetricFamily("leadsync_lead_error_rate_percent", "Share of leads in 'error'.")
        if health["error_rate"] is not None:
            error_rate.add_metric([], float(health["error_rate"]))
        yield error_rate
        overall = GaugeMetricFamily(
            "leadsync_overall_health", "1 for the current overall health state, 0 for the others.", labels=["state"]
        )
        for state in OverallHealth:
            overall.add_metric([state.value], 1 if health["overall_health"] == state.value else 0)
        yield overall

        since = GaugeMetricFamily(
            "leadsync_seconds_since_last_sync",
            "Seconds since the newest sync attempt in each direction (absent: never).",
            labels=["direction"],
        )
        last = selectors.last_sync_times()
        now = timezone.now()
        for direction in HistoryDirection:
            if last[direction.value] is not None:
                since.add_metric([direction.value], (now - last[direction.value]).total_seconds())
        yield since

        yield GaugeMetricFamily(
            "leadsync_alerts_firing", "Alerts firing now.", value=len(firing_alerts())
        )

        started = GaugeMetricFamily(
            "leadsync_job_last_run_timestamp_seconds",
            "Unix time the newest run of each scheduled task started.",
            labels=["task"],
        )
        outcome = GaugeMetricFamily(
            "leadsync_job_last_run_outcome",
            "1 for the outcome of the newest run of each scheduled task, 0 for the others.",
            labels=["task", "outcome"],
        )
        for task_name, run in sorted(job_selectors.latest_job_runs().items()):
            started.add_metric([task_name], run.started_at.timestamp())
            for choice in JobOutcome:
                outcome.add_metric([task_name, choice.value], 1 if run.outcome == choice.value else 0)
        yield started
        yield outcome


# Our own registry: the process-wide default one would add per-worker Python internals that
# mean little behind several gunicorn workers. auto_describe=False: registering must not query.
registry = CollectorRegistry(auto_describe=False)
registry.register(LeadSyncCollector())
