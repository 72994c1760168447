"""Run the alert check (monitoring.evaluate_alerts) once, now, in this process.

`./portal up` calls it after the demo users exist, so the Alerts and Jobs pages show a finished
check from the first page view instead of "not checked yet" until beat's first tick.
"""
from __future__ import annotations

from django.core.management.base import BaseCommand

from monitoring.tasks.alerts import evaluate_alerts


class Command(BaseCommand):
    help = "Evaluate every alert rule once, synchronously (recorded as a run of monitoring.evaluate_alerts)."

    def handle(self, *args, **options) -> None:
        # The task body itself, not .delay(): no worker is needed and the run is finished on return.
        result = evaluate_alerts()
        self.stdout.write(f"run_alert_check_once: {result}")
