"""Template helpers of the portal pages."""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils.html import format_html, json_script
from django.utils.safestring import SafeString

from monitoring.tables import format_timestamp

register = template.Library()


@register.simple_tag
def chart(charts: dict[str, Any] | None, name: str, label: str = "") -> SafeString:
    """A canvas drawn by static/monitoring/charts.js from the config embedded next to it (json_script)."""
    config = (charts or {}).get(name)
    if not config:
        return format_html('<p class="empty">No data to chart yet.</p>')
    element_id = f"chart-{name}"
    return format_html(
        '<figure class="chart"><div class="chart-box"><canvas data-chart="{}" role="img" aria-label="{}"></canvas></div>'
        "{}<figcaption>{}</figcaption></figure>",
        element_id, label, json_script(config, element_id), label,
    )


@register.filter
def timestamp(value: datetime | None) -> str:
    """A timestamp in the display zone with the zone's name; "never" for None."""
    return format_timestamp(value) if value is not None else "never"


@register.filter
def minutes(value: timedelta) -> int:
    """Whole minutes of a duration, rounded up (a lockout of 14.5 minutes says 15)."""
    return math.ceil(value.total_seconds() / 60)
