"""The portal's navigation: (URL name, label). Each page adds one line here."""
from __future__ import annotations

NAVIGATION: list[tuple[str, str]] = [
    ("monitoring:overview", "Overview"),
    ("monitoring:performance", "Performance"),
    ("monitoring:lead-flow", "Lead flow"),
    ("monitoring:errors", "Errors"),
    ("monitoring:error-groups", "Error groups"),
    ("monitoring:segments", "Segments"),
    ("monitoring:activity", "Activity"),
    ("monitoring:daily-summary", "Daily summary"),
    ("monitoring:debug", "Debug"),
    ("monitoring:leads", "Leads"),
    ("monitoring:alerts", "Alerts"),
    ("monitoring:jobs", "Jobs"),
]

# Pages with the time-range picker: the navigation carries ?range=... between these.
RANGE_PAGES: frozenset[str] = frozenset(
    {"monitoring:performance", "monitoring:lead-flow", "monitoring:error-groups", "monitoring:activity"}
)
