"""The words of alert messages: one firing, the reminders and one recovery per incident."""
from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from monitoring.models import Incident, MessageKind

from .transports import Message


def format_duration(delta: timedelta) -> str:
    """'1 h 25 min', '3 min', '45 s'."""
    seconds = max(int(delta.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    if not parts:
        parts.append(f"{secs} s")
    return " ".join(parts)


def _local(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")


def render(incident: Incident, kind: str, *, now: datetime, summary: str | None = None) -> Message:
    """The subject and body for `kind`; `summary` is the latest check's words (reminders, recovery)."""
    rule = incident.rule
    label = incident.get_severity_display().upper()
    if kind == MessageKind.FIRING:
        subject = f"[{label}] FIRING: {rule.name}"
        body = f"{incident.summary}\nStarted {_local(incident.started_at)}."
    elif kind == MessageKind.REMINDER:
        subject = f"[{label}] STILL FIRING for {format_duration(now - incident.started_at)}: {rule.name}"
        body = f"{summary or incident.summary}\nFiring since {_local(incident.started_at)}."
    elif kind == MessageKind.RECOVERY:
        duration = format_duration((incident.resolved_at or now) - incident.started_at)
        subject = f"[RESOLVED] {rule.name} after {duration}"
        body = (
            f"Resolved {_local(incident.resolved_at or now)} after {duration} "
            f"(firing since {_local(incident.started_at)}).\nNow: {summary or '-'}\nWhen it fired: {incident.summary}"
        )
    else:
        raise ValueError(f"unknown message kind {kind!r}")
    notes = []
    if incident.acknowledged_by_id:
        notes.append(f"Acknowledged by {incident.acknowledged_by.get_username()} at {_local(incident.acknowledged_at)}.")
    if incident.snoozed_by_id:
        notes.append(f"Snoozed by {incident.snoozed_by.get_username()} until resolved.")
    if notes:
        body += "\n" + " ".join(notes)
    return Message(subject=subject, body=body)
