"""Template helpers of the portal pages."""
from __future__ import annotations

import html
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.conf import settings
from django.utils.formats import get_format, localize
from django.utils.html import conditional_escape, escape, format_html, format_html_join, json_script
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime
from django.utils.translation import get_language

from monitoring.tables.cells import CellPlan
from monitoring.tables.portal import KEY_COLUMNS, format_timestamp

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


TABLE_TEMPLATE = "monitoring/_table.html"


@register.simple_tag(takes_context=True)
def portal_table(context: template.Context, table: Any) -> SafeString:
    """{% render_table table "monitoring/_table.html" %}, rendered in the page's own context.

    django-tables2's tag renders each table with a new RequestContext, which runs every context
    processor again (the navigation's URLs among them) for every table of the page. This renders
    the same template the way {% include %} does: the page's context with `table` pushed on it.
    """
    return _render_table(context, table)


def _render_table(context: template.Context, table: Any) -> SafeString:
    request = context.get("request")
    table_template = context.template.engine.get_template(TABLE_TEMPLATE)
    table.context = context  # as RenderTableNode: TemplateColumn reads the page's context from it
    try:
        table.before_render(request)
        with context.push(table=table):
            return table_template.render(context)
    finally:
        del table.context


@register.simple_tag(takes_context=True)
def table_head(context: template.Context, table: Any) -> SafeString:
    """django-tables2's {% block table.thead %}, built in Python, whitespace and all (the template
    spent a dozen variable lookups and a querystring_replace per column, five tables per page on
    Alerts). tests/test_table_rows.py compares every page with the template's own output."""
    return _table_head(context, table)


def _table_head(context: template.Context, table: Any) -> SafeString:
    indent = "\n            "
    if not table.show_header:
        return mark_safe(indent + indent)
    query = dict(context["request"].GET)  # as querystring_replace: every parameter, lists kept
    sort_field = table.prefixed_order_by_field
    heads = []
    for column in table.columns:
        header = _variable_html(column.header)
        if column.orderable:
            # querystring_replace sets the key only when it is neither "" nor None.
            params = query if sort_field in ("", None) else {**query, sort_field: column.order_by_alias.next}
            link = escape("?" + urlencode(params, doseq=True))
            inner = f'\n                                <a href="{link}">{header}</a>\n                            '
        else:
            inner = f"\n                                {header}\n                            "
        heads.append(
            f"\n                        <th {_variable_html(column.attrs['th'].as_html())}>\n                            "
            f"{inner}\n                        </th>\n                    "
        )
    thead_attrs = table.attrs.get("thead") if isinstance(table.attrs, dict) else None
    thead_html = _variable_html(thead_attrs.as_html()) if hasattr(thead_attrs, "as_html") else ""
    return mark_safe(  # every value above went through _variable_html or escape
        f"{indent}\n                <thead {thead_html}>\n                    <tr>\n                    "
        f"{''.join(heads)}\n                    </tr>\n                </thead>{indent}{indent}"
    )


def _variable_html(value: Any) -> str:
    """{{ value }}: in the display zone, localized, escaped unless safe."""
    return conditional_escape(localize(template_localtime(value)))


def _cell_attrs(column: Any) -> str:
    """A cell's attributes: the column's, its header as data-label (the phone layout prints it
    before the value) and key/key-<role> for the columns a reader needs first (KEY_COLUMNS)."""
    attrs = dict(column.attrs["td"])
    role = KEY_COLUMNS.get(column.name)
    if role:
        attrs["class"] = " ".join(filter(None, [attrs.get("class", ""), "key", f"key-{role}"]))
    attrs["data-label"] = str(column.header)
    return str(format_html_join(" ", '{}="{}"', attrs.items()))


@register.simple_tag
def table_rows(table: Any) -> SafeString:
    """The <tr>s of a django-tables2 table's current page, built in Python.

    Same cells as django-tables2's template (its render_FOO/column.render, escaped unless a render
    returned safe HTML), without a template loop per cell: at 50-100 rows that loop cost more
    than the page's queries.
    """
    columns = list(table.columns)
    td_attrs = [_cell_attrs(column) for column in columns]
    # Meta.row_attrs (values or callables of the record), e.g. the lead timeline's row kind.
    row_attrs = getattr(table, "row_attrs", None) or {}
    opening = [f"<td{' ' + attrs if attrs else ''}>" for attrs in td_attrs]
    rows = []
    renderers = _cell_renderers(columns)
    whole_number = _whole_number_format()
    for row in table.paginated_rows:
        # What row.items() yields; tests/test_table_rows.py holds the two to the same output.
        cells = "".join(
            f"{td}{_cell_html(cell(row), whole_number)}</td>" for td, cell in zip(opening, renderers, strict=True)
        )
        tr_attrs = format_html_join(
            "", ' {}="{}"', ((k, v(record=row.record) if callable(v) else v) for k, v in row_attrs.items())
        )
        rows.append(f"<tr{tr_attrs}>{cells}</tr>")
    if not rows and table.empty_text:
        rows.append(str(format_html('<tr><td colspan="{}">{}</td></tr>', len(columns), table.empty_text)))
    return mark_safe("".join(rows))  # every piece above is escaped or built by format_html


def _cell_html(value: Any, whole_number: Callable[[int], str] | None = None) -> str:
    """{{ cell }} in django-tables2's template: localized, in the display zone, escaped unless safe.
    Plain text skips the lookups that cannot change it; so does a whole number, given the table's
    whole-number format (_whole_number_format)."""
    if type(value) is str:
        return html.escape(value)  # what escape() returns, without its lazy-text wrapper
    if type(value) is int and whole_number is not None:
        return whole_number(value)
    return _variable_html(value)


def _whole_number_format() -> Callable[[int], str] | None:
    """localize(n) for an int, with the active language's separators looked up once per table
    instead of once per cell: Django's numberformat with grouping 3 and USE_THOUSAND_SEPARATOR is
    Python's "," grouping with the language's separator (escaped, as the whole text would be).
    None (every cell through localize) for any other grouping."""
    if not settings.USE_THOUSAND_SEPARATOR:
        return str  # numberformat returns the number as it is
    language = get_language()
    grouping, separator = get_format("NUMBER_GROUPING", language), get_format("THOUSAND_SEPARATOR", language)
    if grouping != 3 or not isinstance(separator, str):
        return None
    separator = html.escape(separator)  # numberformat's result is plain text, escaped as a whole
    return lambda number: f"{number:,}".replace(",", separator)


def _cell_renderers(columns: list[Any]) -> list[Callable[[Any], Any]]:
    """Per column, row -> row.get_cell(column.name) (monitoring.tables.cells: the column's share
    of the work done once per table, not once per cell)."""
    return [CellPlan(column).cell for column in columns]


GAUGE_CX, GAUGE_CY, GAUGE_R = 130, 118, 80


def _f(number: float) -> str:
    """SVG coordinates: one decimal, never localized (a thousands separator would break the path)."""
    return f"{number:.1f}"


def _gauge_point(value: float, maximum: float, radius: float) -> tuple[float, float]:
    """Point on the half circle: 0 at the left end, `maximum` at the right end."""
    angle = math.pi * (1 - min(max(value, 0.0), maximum) / maximum)
    return GAUGE_CX + radius * math.cos(angle), GAUGE_CY - radius * math.sin(angle)


@register.simple_tag
def gauge(value: Any, bands: list[tuple[float, float, str]], maximum: float, unit: str = "%", label: str = "") -> SafeString:
    """A half-circle gauge as inline SVG (no script): coloured bands, a tick and label at every band
    edge and at both ends, a needle at `value` and the value in figures. Values above `maximum`
    pin the needle at the end and say so ("≥ 20 %" is not shown: the real value is printed)."""
    parts = []
    for low, high, colour in bands:
        (x1, y1), (x2, y2) = _gauge_point(low, maximum, GAUGE_R), _gauge_point(high, maximum, GAUGE_R)
        parts.append(format_html(
            '<path class="gauge-band gauge-band-{}" d="M {} {} A {} {} 0 0 1 {} {}"/>',
            colour, _f(x1), _f(y1), GAUGE_R, GAUGE_R, _f(x2), _f(y2),
        ))
    edges = sorted({0.0, float(maximum), *(float(b[0]) for b in bands), *(float(b[1]) for b in bands)})
    for edge in edges:
        (tx1, ty1), (tx2, ty2) = _gauge_point(edge, maximum, GAUGE_R - 13), _gauge_point(edge, maximum, GAUGE_R + 13)
        lx, ly = _gauge_point(edge, maximum, GAUGE_R + 24)
        parts.append(format_html(
            '<line class="gauge-tick" x1="{}" y1="{}" x2="{}" y2="{}"/>'
            '<text class="gauge-scale" x="{}" y="{}" text-anchor="middle">{}{}</text>',
            _f(tx1), _f(ty1), _f(tx2), _f(ty2), _f(lx), _f(ly + 4), f"{edge:g}", f" {unit}" if edge == maximum else "",
        ))
    if value is None:
        reading = "—"
    else:
        number = float(value)
        nx, ny = _gauge_point(number, maximum, GAUGE_R - 4)
        parts.append(format_html(
            '<line class="gauge-needle" x1="{}" y1="{}" x2="{}" y2="{}"/><circle class="gauge-hub" cx="{}" cy="{}" r="5"/>',
            GAUGE_CX, GAUGE_CY, _f(nx), _f(ny), GAUGE_CX, GAUGE_CY,
        ))
        reading = f"{localize(value)} {unit}" + (" (off the scale)" if number > maximum else "")
    value_text, _, note = reading.partition(" (")
    parts.append(format_html(
        '<text class="gauge-value" x="{}" y="{}" text-anchor="middle">{}</text>', GAUGE_CX, GAUGE_CY + 30, value_text
    ))
    if note:  # second line, smaller: the number stays readable on a phone
        parts.append(format_html(
            '<text class="gauge-note" x="{}" y="{}" text-anchor="middle">({}</text>', GAUGE_CX, GAUGE_CY + 46, note
        ))
    return format_html(
        '<svg class="gauge-svg" viewBox="0 0 260 172" role="img" aria-label="{}">{}</svg>',
        f"{label}: {reading}; scale 0 to {maximum:g} {unit}", mark_safe("".join(parts)),
    )
