"""Alert rules (one evaluator per kind) and notification transports (one class per channel kind).

The lifecycle (firing, reminders, recovery, delivery) is in monitoring.services.alerts.
"""
