"""/metrics for Prometheus: a collector that reads the selectors on every scrape.

No global mutable gauges: each scrape asks the same selectors the pages use, so the numbers
cannot drift from the dashboard and several web workers never disagree.

Names follow Prometheus' naming guide: the time of an event as a Unix timestamp
(`..._timestamp_seconds`, used as `time() - x`), shares as `_ratio` in 0-1, units in the name,
`_total` only on counters, and HELP text that says what is counted. The rules in
integrations/prometheus/ read these names.
"""
from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from leadsync_portal import __version__
from monitoring import selectors
from monitoring.choices import HistoryDirection, OverallHealth
from monitoring.models import JobOutcome
from monitoring.selectors import jobs as job_selectors
from monitoring.selectors import metrics as metric_selectors
from monitoring.selectors import rollups as rollup_selectors
from monitoring.selectors.alerts import firing_alerts


class LeadSyncCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        build = GaugeMetricFamily(
            "leadsync_build_info", "Always 1; the version label is the release of the portal answering.",
            labels=["version"],
        )
        build.add_metric([__version__], 1)
        yield build

        leads = GaugeMetricFamily(
            "leadsync_leads", "Leads now in each sync status (view sync_monitoring).", labels=["status"]
        )
        for row in selectors.sync_monitoring():
            leads.add_metric([row["sync_status"]], row["count"])
        yield leads

        # Counts over a sliding window are gauges (they fall as the window moves on); the
        # all-time _total counters below are what rate() and increase() want.
        attempts = GaugeMetricFamily(
            "leadsync_sync_attempts_last_hour",
            "Sync attempts (lead_sync_history rows) that finished in the last hour, by direction.",
            labels=["direction"],
        )
        errors = GaugeMetricFamily(
            "leadsync_sync_errors_last_hour",
            "Sync attempts that finished in the last hour with status error, by direction.",
            labels=["direction"],
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
            "leadsync_sync_success_ratio",
            "Synced leads divided by the leads the sync has had a chance at, 0-1 (lead_sync_health_dashboard).",
        )
        if health["sync_success_rate"] is not None:
            success.add_metric([], _ratio(health["sync_success_rate"]))
        yield success
        error_ratio = GaugeMetricFamily(
            "leadsync_lead_error_ratio", "Leads in status error divided by all leads, 0-1 (lead_sync_health_dashboard)."
        )
        if health["error_rate"] is not None:
            error_ratio.add_metric([], _ratio(health["error_rate"]))
        yield error_ratio
        overall = GaugeMetricFamily(
            "leadsync_overall_health",
            "1 for the current overall health state of lead_sync_health_dashboard, 0 for the others.",
            labels=["state"],
        )
        for state in OverallHealth:
            overall.add_metric([state.value], 1 if health["overall_health"] == state.value else 0)
        yield overall

        # The time of the event, not the seconds since it: a stored sample stays true, and
        # `time() - leadsync_last_sync_timestamp_seconds` gives the age at query time.
        last_sync = GaugeMetricFamily(
            "leadsync_last_sync_timestamp_seconds",
            "Unix time the newest sync attempt in each direction finished (absent: never).",
            labels=["direction"],
        )
        last = selectors.last_sync_times()
        for direction in HistoryDirection:
            if last[direction.value] is not None:
                last_sync.add_metric([direction.value], last[direction.value].timestamp())
        yield last_sync

        backlog = GaugeMetricFamily(
            "leadsync_rollup_pending_deltas",
            "Deltas waiting for the compactor per delta table (counted up to 1,000,000): it folds "
            "every 5 s, so a number that keeps growing means the rollups worker is down or behind.",
            labels=["table"],
        )
        for table, waiting in rollup_selectors.pending_deltas().items():
            backlog.add_metric([table], waiting)
        yield backlog

        yield GaugeMetricFamily(
            "leadsync_alerts_firing", "Alert incidents firing now (acknowledged and snoozed ones included).",
            value=len(firing_alerts()),
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


def _ratio(percent: Decimal | float) -> float:
    """The views say percent (0-100, two decimals); Prometheus wants a ratio (0-1)."""
    return float(Decimal(percent) / 100)


# Our own registry: the process-wide default one would add per-worker Python internals that
# mean little behind several gunicorn workers. auto_describe=False: registering must not query.
registry = CollectorRegistry(auto_describe=False)
registry.register(LeadSyncCollector())
