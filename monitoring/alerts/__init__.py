"""Alert rules (one evaluator per kind) and notification transports (one class per channel kind).

The lifecycle (firing, reminders, recovery, delivery) is in monitoring.services.alerts.
"""
from __future__ import annotations

# Acknowledge, snooze, re-send and re-enable: operators and superusers (viewers only look).
MANAGE_ALERTS_PERMISSION = "monitoring.manage_alerts"
