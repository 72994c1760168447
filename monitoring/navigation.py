"""The portal's navigation: (URL name, label). Each page adds one line here."""
from __future__ import annotations

NAVIGATION: list[tuple[str, str]] = [
    ("monitoring:overview", "Overview"),
    ("monitoring:jobs", "Jobs"),
]
