"""Template helpers of the portal pages."""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils.formats import localize
from django.utils.html import conditional_escape, format_html, format_html_join, json_script
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime

from monitoring.tables.portal import format_timestamp

register = template.Library()


@register.simple_tag
def chart(charts: dict[str, Any] | None, name: str, label: str = "") -> SafeString:
    """A canvas drawn by static/monitoring/charts.js from the config embedded next to it (json_script)."""
    config = (charts or {}).get(name)
    if not config:
        return format_html('<p class="empty">{}</p>', "No data to chart yet.")
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


@register.simple_tag
def table_rows(table: Any) -> SafeString:
    """The <tr>s of a django-tables2 table's current page, built in Python.

    Same cells as django-tables2's template (its render_FOO/column.render, escaped unless a render
    returned safe HTML), without a template loop per cell: at 50-100 rows that loop cost more
    than the page's queries.
    """
    columns = list(table.columns)
    td_attrs = [column.attrs["td"].as_html() for column in columns]
    # Meta.row_attrs (values or callables of the record), e.g. the lead timeline's row kind.
    row_attrs = getattr(table, "row_attrs", None) or {}
    rows = []
    for row in table.paginated_rows:
        cells = "".join(
            f"<td{' ' + attrs if attrs else ''}>{conditional_escape(localize(template_localtime(cell)))}</td>"
            for attrs, (_column, cell) in zip(td_attrs, row.items(), strict=True)
        )
        tr_attrs = format_html_join(
            "", ' {}="{}"', ((k, v(record=row.record) if callable(v) else v) for k, v in row_attrs.items())
        )
        rows.append(f"<tr{tr_attrs}>{cells}</tr>")
    if not rows and table.empty_text:
        rows.append(str(format_html('<tr><td colspan="{}">{}</td></tr>', len(columns), table.empty_text)))
    return mark_safe("".join(rows))  # every piece above is escaped or built by format_html
