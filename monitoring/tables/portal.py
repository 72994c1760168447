"""django-tables2 tables of the portal pages; columns are declared only where they need customising.

Every table works on model rows and on selector rows (dicts) alike, renders timestamps with their
zone, and exports plain values (no HTML, timestamps as ISO 8601 with offset) to CSV/XLSX.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone as dt_timezone
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import django_tables2 as tables
from django_tables2 import utils as tables2_utils
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.timezone import template_localtime
from django.utils.dateformat import format as date_format
from django.template.defaultfilters import date as date_filter
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from monitoring.choices import (
    HistoryDirection,
    HistoryStatus,
    LeadSyncDirection,
    LeadSyncStatus,
    RepairAction,
    SyncType,
)
from monitoring.form_renderer import text as template_text

TIMESTAMP_FORMAT = "Y-m-d H:i:s T"


def _memoize_tables2_signatures() -> None:
    """django-tables2 runs inspect.signature() on a render method for every cell; at 100 rows that
    was a third of a page's time (benchmarks/pages.py). A bound method's signature is its
    function's minus the first parameter, so cache per function."""
    original: Callable[[Any], tuple[tuple[str, ...], str | None]] = tables2_utils.signature
    if getattr(original, "memoized", False):
        return

    @functools.lru_cache(maxsize=2048)
    def of_function(func: Callable[..., Any], bound: bool) -> tuple[tuple[str, ...], str | None]:
        args, keywords = original(func)
        return (args[1:] if bound else args), keywords

    def signature(fn: Any) -> tuple[tuple[str, ...], str | None]:
        func = getattr(fn, "__func__", None)
        try:
            if func is not None and getattr(fn, "__self__", None) is not None:
                return of_function(func, True)
            return of_function(fn, False)
        except TypeError:  # unhashable callable
            return original(fn)

    signature.memoized = True  # type: ignore[attr-defined]
    tables2_utils.signature = signature


_memoize_tables2_signatures()

# Raw value -> label for every status/direction/type, for rows that come from selectors as dicts.
LABELS: dict[str, str] = {
    **dict(LeadSyncStatus.choices),
    **dict(HistoryStatus.choices),
    **dict(LeadSyncDirection.choices),
    **dict(HistoryDirection.choices),
    **dict(SyncType.choices),
    **dict(RepairAction.choices),
}


def format_timestamp(value: datetime | None) -> str:
    """A timestamp in the display zone with the zone's name, e.g. "2026-11-28 18:20:05 UTC"."""
    if value is None:
        return ""
    if timezone.is_naive(value):  # the daily summary's UTC day buckets come back naive
        value = timezone.make_aware(value, dt_timezone.utc)
    return wall_clock(timezone.localtime(value), seconds=True)


def wall_clock(local: datetime, *, seconds: bool = False, time: bool = True) -> str:
    """date_format(local, "Y-m-d H:i:s T") (or "Y-m-d H:i T", or "Y-m-d" without time), spelled
    out: Django's formatter parses the format and looks each letter up on every call, a tenth of
    a page of 100 rows. tests/test_table_shortcuts.py compares the two on random values."""
    text = f"{local.year:04d}-{local.month:02d}-{local.day:02d}"
    if not time:
        return text
    text += f" {local.hour:02d}:{local.minute:02d}" + (f":{local.second:02d}" if seconds else "")
    zone = local.tzinfo
    if zone is None:  # Django would use the default zone's name: let it
        return date_format(local, "Y-m-d H:i:s T" if seconds else "Y-m-d H:i T")
    if zone.utcoffset(local.replace(fold=not local.fold)) != zone.utcoffset(local):
        # A wall time that occurs twice (or never) around a DST change: Django's T is empty there.
        return text + " "
    return f"{text} {zone.tzname(local)}"


class _WrittenOutDate:
    """django-tables2's DateTimeColumn and DateColumn without a Template compiled per cell: their
    template `{{ value|date:format|default:default }}` written out (the date filter in the display
    zone, the column's default when it gives nothing, escaped). tests/test_table_rows.py compares
    them with the library's."""

    format_names: tuple[str, str]  # (short, long): the library's default formats

    def __init__(self, format: str | None = None, short: bool = True, *args: Any, **kwargs: Any) -> None:
        super().__init__(format, short, *args, **kwargs)  # type: ignore[call-arg]
        self.date_format = format if format is not None else self.format_names[0 if short else 1]

    def render(self, value: Any, bound_column: Any) -> str:
        # The template's variable: localized and escaped, the default too (it may be a number or a date).
        return template_text(date_filter(template_localtime(value), self.date_format) or bound_column.default)


class DateTimeColumn(_WrittenOutDate, tables.DateTimeColumn):
    format_names = ("SHORT_DATETIME_FORMAT", "DATETIME_FORMAT")


class DateColumn(_WrittenOutDate, tables.DateColumn):
    format_names = ("SHORT_DATE_FORMAT", "DATE_FORMAT")


class TimestampColumn(tables.Column):
    """A timestamptz shown in the display zone with the zone's name; exported as ISO 8601 with offset."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("attrs", {"td": {"class": "ts"}})
        super().__init__(*args, **kwargs)

    def render(self, value: datetime) -> str:
        return format_timestamp(value)

    def value(self, value: datetime | None) -> str:
        return timezone.localtime(value).isoformat() if value is not None else ""


class DayColumn(tables.Column):
    """A day bucket as YYYY-MM-DD; exported the same."""

    suffix = ""

    def render(self, value: date | datetime) -> str:
        day = value.date() if isinstance(value, datetime) else value
        return f"{day:%Y-%m-%d}{self.suffix}"

    def value(self, value: date | datetime | None) -> str:
        if value is None:
            return ""
        return (value.date() if isinstance(value, datetime) else value).isoformat()


class UtcDayColumn(DayColumn):
    """A day bucket computed in UTC (lead_sync_daily_summary, lead_analytics)."""

    suffix = " (UTC)"


# Columns a reader needs first, by role: on a phone the table stacks each row into a card and
# these come first, in this order (status, name, error); see the table_rows tag and portal.css.
KEY_COLUMNS: dict[str, str] = {
    "sync_status": "status", "last_outcome": "status", "severity": "status", "status": "status",
    "full_name": "name", "lead_name": "name", "task_name": "name", "rule": "name", "name": "name",
    "error_message": "error", "sync_error_message": "error", "fingerprint": "error", "last_error": "error",
    "summary": "error",
}


class NumberColumn(tables.Column):
    """A right-aligned number, its header right-aligned over it."""

    def __init__(self, verbose_name: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("attrs", {"td": {"class": "num"}, "th": {"class": "num"}})
        super().__init__(verbose_name, **kwargs)


class BadgeColumn(tables.Column):
    """A status/direction/type code shown as its label in a coloured badge; exported as the raw code."""

    def render(self, value: str, record: Any, bound_column: tables.columns.BoundColumn) -> str:
        # Model rows hand over the choice label as value; the CSS class needs the raw code.
        code = bound_column.accessor.resolve(record, quiet=True)
        return format_html('<span class="badge badge-{}">{}</span>', code, LABELS.get(code, value))

    def value(self, value: str | None) -> str:
        return LABELS.get(value, value) if value else ""


def json_text(value: Any) -> str:
    """Compact JSON text of a jsonb value. Raw-SQL rows carry jsonb as its text (Django's psycopg
    loader leaves decoding to JSONField), ORM rows as Python objects: both end up the same."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, ensure_ascii=False, default=str)


class EmailColumn(tables.Column):
    """An email address, allowed to wrap anywhere so a wide table still fits the page."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("attrs", {"td": {"class": "email"}})
        super().__init__(*args, **kwargs)


class JsonColumn(tables.Column):
    """JSON (fields_changed) as compact text, escaped like any sync-provided text."""

    def render(self, value: Any) -> str:
        return format_html('<code class="json">{}</code>', json_text(value))

    def value(self, value: Any) -> str:
        return json_text(value)


class SparklineColumn(tables.Column):
    """A list of counts as a tiny inline SVG bar chart (no JavaScript); exported as "1,0,3"."""

    WIDTH, HEIGHT = 90, 18

    def render(self, value: list[int]) -> str:
        counts = [int(v) for v in value]
        peak = max(counts, default=0) or 1
        slots = max(len(counts), 1)
        # A gap between bars while there is room for one; dense trends (60 minutes) touch.
        gap = 2.0 if slots <= 15 else (0.5 if slots <= 40 else 0.0)
        bar = (self.WIDTH - gap * (slots - 1)) / slots
        # Written out, not format_html per bar: every value is a number formatted here (an int, or a
        # float to fixed decimals), so there is nothing to escape, and escaping five arguments of each
        # of up to 168 bars was a third of the Error groups page.
        rects = "".join(
            f'<rect x="{i * (bar + gap):.2f}" y="{self.HEIGHT - max(1.0, self.HEIGHT * c / peak):.1f}" '
            f'width="{bar:.2f}" height="{max(1.0, self.HEIGHT * c / peak):.1f}"><title>{c}</title></rect>'
            for i, c in enumerate(counts)
        )
        return mark_safe(  # numbers only (counts are int() above)
            f'<svg class="sparkline" width="{self.WIDTH}" height="{self.HEIGHT}" viewBox="0 0 {self.WIDTH} '
            f'{self.HEIGHT}" role="img" aria-label="per bucket, oldest first: {", ".join(map(str, counts))}">'
            f"{rects}</svg>"
        )

    def value(self, value: list[int] | None) -> str:
        return ",".join(str(v) for v in value or [])


LEAD_DETAIL = "monitoring:lead-detail"
# A lead id no lead has: the lead page's URL is reversed once with it, then it is swapped for the id.
_PLACEHOLDER_ID = UUID("00000000-0000-4000-8000-000000000000")


@functools.lru_cache(maxsize=64)
def _lead_url_around(script_prefix: str, urlconf: str | None) -> tuple[str, str]:
    url = reverse(LEAD_DETAIL, args=[_PLACEHOLDER_ID])
    before, found, after = url.partition(str(_PLACEHOLDER_ID))
    assert found and _PLACEHOLDER_ID.hex not in before + after, url
    return before, after


def lead_detail_url(lead_id: UUID | str | None) -> str | None:
    """reverse(LEAD_DETAIL, args=[lead_id]) without reverse() per row: the route is
    `leads/<uuid:pk>/`, whose URL is any id's with the id swapped (reverse() once per script
    prefix and URLconf); a list of 100 leads reversed 100 URLs."""
    if lead_id is None:  # a row without its lead: no link (django-tables2 then shows the text)
        return None
    before, after = _lead_url_around(get_script_prefix(), get_urlconf())
    return f"{before}{UUID(str(lead_id))}{after}"


def lead_link(key: str = "id") -> Callable[..., str | None]:
    """linkify= for a column of leads: each row links to its lead's page (the record's `key`)."""
    accessor = tables.A(key)

    def url(record: Any) -> str | None:
        return lead_detail_url(accessor.resolve(record))

    return url


class PortalTable(tables.Table):
    """Shared defaults: our CSS class, an explicit empty state.

    Tables of at most NARROW_COLUMNS columns are marked `narrow`: they fit a phone as they are,
    so the phone layout keeps them as tables instead of stacking each row into a card.
    """

    NARROW_COLUMNS = 4

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if sum(1 for column in self.columns if column.visible) <= self.NARROW_COLUMNS:
            self.attrs = tables2_utils.AttributeDict({**self.attrs, "class": f"{self.attrs.get('class', '')} narrow".strip()})

    class Meta:
        attrs = {"class": "table"}
        empty_text = "No rows match."
        template_name = "django_tables2/table.html"


# --- Leads -------------------------------------------------------------------------------------


class LeadTable(PortalTable):
    """All leads, newest first (the lead list; error groups link here).

    Sortable by creation time only: that is the one order an index serves over a million leads
    (idx_leads_created_at); any other sort is a full sort of the table on every page view.
    Narrower lists (Errors) sort by any column.
    """

    full_name = tables.Column("Name", linkify=lead_link(), order_by=("first_name", "last_name"), empty_values=())
    email = EmailColumn()
    company_name = tables.Column()
    lead_source = tables.Column()
    segment = tables.Column(accessor="segment__segment_name", verbose_name="Segment")
    sync_status = BadgeColumn("Status")
    sync_direction = BadgeColumn("Direction")
    sync_error_count = NumberColumn("Errors")
    last_synced_at = TimestampColumn("Last synced")
    created_at = TimestampColumn("Created", orderable=True)

    def render_full_name(self, record: Any) -> str:
        return record.full_name or record.email or str(record.pk)

    class Meta(PortalTable.Meta):
        empty_text = "No leads match these filters."
        orderable = False


class ErrorLeadTable(PortalTable):
    """Leads in 'error', the spec's §4 columns plus where they come from.

    Sortable by the indexed columns only (error count: idx_leads_error_ranking, last synced:
    idx_leads_sync_monitoring); tens of thousands of leads can be in error during an outage.

    last_error_detail is filled by the view for the rows it shows (table.last_errors), one index
    probe per shown lead instead of a LATERAL over every lead in error.
    """

    full_name = tables.Column("Lead", linkify=lead_link(), empty_values=())
    email = EmailColumn()
    sync_error_message = tables.Column("Error message")
    sync_error_count = NumberColumn("Errors", orderable=True)
    last_synced_at = TimestampColumn("Last synced", orderable=True)
    last_error_detail = tables.Column("Last error detail", empty_values=(), orderable=False)
    sync_direction = BadgeColumn("Direction")
    lead_source = tables.Column("Source")
    segment = tables.Column(accessor="segment__segment_name", verbose_name="Segment")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_errors: dict[Any, str | None] = {}

    def render_full_name(self, record: Any) -> str:
        return record.full_name or record.email or str(record.pk)

    def render_last_error_detail(self, record: Any) -> str:
        return self.last_errors.get(record.pk) or "—"

    def value_last_error_detail(self, record: Any) -> str:
        return self.last_errors.get(record.pk) or ""

    class Meta(PortalTable.Meta):
        empty_text = "No leads are in error."
        orderable = False


# --- The lead timeline: attempts and repairs, readable changes -----------------------------------

FOLD_AT = 80  # characters of a changed value shown before it folds
ERROR_FOLD_AT = 300  # characters of an error message shown before it folds
MISSING = "—"


def _plain(value: Any) -> str:
    """One changed value as text: strings as they are, null as a dash, anything else as compact JSON."""
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def folded(text: str, limit: int = FOLD_AT) -> str:
    """Escaped text; past `limit` characters a <details> whose summary is the start, the full text one click away."""
    if len(text) <= limit:
        return format_html("{}", text)
    return format_html(
        '<details class="fold"><summary>{}…</summary><span class="fold-full">{}</span></details>', text[:limit], text
    )


def _repair_field_label(name: str) -> str:
    from monitoring.models import Lead

    try:
        return str(Lead._meta.get_field(name).verbose_name)
    except Exception:  # noqa: BLE001 - a column this code no longer knows: its own name
        return name


def change_lines(row: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(field, old, new) per changed field; new is None for a value without a before/after pair.

    Attempts carry the sync's fields_changed ({"first_name": ["Bob", "Robert"]}, as the spec
    shows); repairs carry old and new values of the lead's own columns.
    """
    if row.get("entry") == "repair":
        old, new = _json(row.get("old")) or {}, _json(row.get("new")) or {}
        return [(_repair_field_label(k), _plain(old.get(k)), _plain(new.get(k))) for k in sorted(set(old) | set(new))]
    changes = _json(row.get("changes"))
    if changes is None:
        return []
    if not isinstance(changes, dict):
        return [("", _plain(changes), None)]
    lines: list[tuple[str, str, str | None]] = []
    for field, value in changes.items():
        if isinstance(value, list) and len(value) == 2:
            lines.append((str(field), _plain(value[0]), _plain(value[1])))
        else:
            lines.append((str(field), _plain(value), None))
    return lines


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def render_changes(row: dict[str, Any]) -> str:
    """'field: old → new' lines (a list), each long value folded; a repair's reason first."""
    items = []
    if row.get("entry") == "repair" and row.get("why"):
        items.append(format_html('<li class="repair-reason">Reason: {}</li>', folded(row["why"], ERROR_FOLD_AT)))
    for field, old, new in change_lines(row):
        label = format_html('<span class="field">{}:</span> ', field) if field else ""
        if new is None:
            items.append(format_html("<li>{}{}</li>", label, folded(old)))
        else:
            items.append(format_html("<li>{}{} → {}</li>", label, folded(old), folded(new)))
    if not items:
        return MISSING
    return format_html('<ul class="changes">{}</ul>', format_html_join("", "{}", ((item,) for item in items)))


def changes_text(row: dict[str, Any]) -> str:
    """The same lines as plain text, for exports."""
    lines = [f"Reason: {row['why']}"] if row.get("entry") == "repair" and row.get("why") else []
    for field, old, new in change_lines(row):
        prefix = f"{field}: " if field else ""
        lines.append(f"{prefix}{old}" if new is None else f"{prefix}{old} → {new}")
    return "\n".join(lines)


def render_error(message: str | None) -> str:
    if not message:
        return MISSING
    return format_html('<div class="error-text">{}</div>', folded(message, ERROR_FOLD_AT))


def render_kind(row: dict[str, Any]) -> str:
    code = row.get("kind") or ""
    if row.get("entry") == "repair":
        return format_html('<span class="badge badge-repair">Repair: {}</span>', LABELS.get(code, code))
    return format_html('<span class="badge badge-{}">{}</span>', code, LABELS.get(code, code))


class LeadTimelineTable(PortalTable):
    """One lead's sync attempts and operator repairs (selectors.leads.lead_timeline), newest first."""

    at = TimestampColumn("Finished")
    started = TimestampColumn("Started")
    direction = BadgeColumn("Direction")
    kind = tables.Column("Type")
    status = BadgeColumn("Status")
    who = tables.Column("By", orderable=False)
    changes = tables.Column("Changes", orderable=False, empty_values=())
    error = tables.Column("Error", orderable=False, empty_values=(), attrs={"td": {"class": "error-cell"}})

    class Meta(PortalTable.Meta):
        empty_text = "This lead has no sync attempts or repairs yet."
        row_attrs = {"class": lambda record: f"timeline-{record['entry']}"}

    def render_kind(self, record: dict[str, Any]) -> str:
        return render_kind(record)

    def value_kind(self, record: dict[str, Any]) -> str:
        label = LABELS.get(record["kind"], record["kind"])
        return f"Repair: {label}" if record["entry"] == "repair" else label

    def render_changes(self, record: dict[str, Any]) -> str:
        return render_changes(record)

    def value_changes(self, record: dict[str, Any]) -> str:
        return changes_text(record)

    def render_error(self, record: dict[str, Any]) -> str:
        return render_error(record.get("error"))

    def value_error(self, record: dict[str, Any]) -> str:
        return record.get("error") or ""


class DailySummaryTable(PortalTable):
    """Rows of lead_sync_daily_summary."""

    sync_date = UtcDayColumn("Day")
    sync_direction = BadgeColumn("Direction")
    sync_status = BadgeColumn("Status")
    sync_count = NumberColumn("Attempts")
    unique_leads = NumberColumn("Leads")

    class Meta(PortalTable.Meta):
        empty_text = "The daily summary is empty (no history yet, or it has never been refreshed)."


# --- Selector rows (dicts) ---------------------------------------------------------------------


class SyncStatusTable(PortalTable):
    """Spec §1: leads per sync status."""

    sync_status = BadgeColumn("Status")
    lead_count = NumberColumn("Leads")
    percentage = NumberColumn("%")
    last_sync_time = TimestampColumn("Last sync")
    avg_errors = NumberColumn("Avg errors")

    class Meta(PortalTable.Meta):
        empty_text = "No leads yet."


class BucketColumn(tables.Column):
    """A time bucket's start in the display zone, marked "(partial)" when the range cuts it; exported as ISO 8601."""

    def render(self, value: datetime, record: dict[str, Any]) -> str:
        whole_days = bool(record.get("bucket_end")) and record["bucket_end"] - value >= timedelta(days=1)
        text = wall_clock(timezone.localtime(value), time=not whole_days)  # "Y-m-d" or "Y-m-d H:i T"
        return f"{text} (partial)" if record.get("partial") else text

    def value(self, value: datetime | None) -> str:
        return timezone.localtime(value).isoformat() if value is not None else ""


class PerformanceTable(PortalTable):
    """Attempts per bucket of the picked range (selectors.ranges.attempts_per_bucket): every bucket, newest first."""

    bucket = BucketColumn("From", attrs={"td": {"class": "ts"}})
    attempts = NumberColumn("Attempts")
    errors = NumberColumn("Errors")
    avg_seconds = NumberColumn("Avg time (s)")

    class Meta(PortalTable.Meta):
        empty_text = "No sync attempts in this range."


class LeadFlowTable(PortalTable):
    """Leads created per bucket, source and direction (selectors.ranges.leads_created_per_bucket)."""

    bucket = BucketColumn("From", attrs={"td": {"class": "ts"}})
    lead_source = tables.Column("Source")
    sync_direction = BadgeColumn("Direction")
    lead_count = NumberColumn("Leads")
    avg_score = NumberColumn("Avg score")

    class Meta(PortalTable.Meta):
        empty_text = "No leads created in this range."


class SegmentTable(PortalTable):
    """Spec §5: leads per segment."""

    segment_name = tables.Column("Segment", default="(no segment)")
    total_leads = NumberColumn("Leads")
    synced_leads = NumberColumn("Synced")
    in_twenty = NumberColumn("In Twenty")
    avg_lead_score = NumberColumn("Avg score")
    avg_confidence = NumberColumn("Avg confidence")

    class Meta(PortalTable.Meta):
        empty_text = "No leads yet."


class ErrorGroupTable(PortalTable):
    """Failed attempts of the picked range grouped by fingerprint (selectors.ranges.error_groups_in_range)."""

    fingerprint = tables.Column("Error group")
    attempts = NumberColumn("Failed attempts")
    affected_leads = NumberColumn("Leads")
    trend = SparklineColumn("Trend", orderable=False)
    first_seen = TimestampColumn("First seen")
    last_seen = TimestampColumn("Last seen")
    sample_message = tables.Column("Newest message")
    leads = tables.Column("", empty_values=(), orderable=False, exclude_from_export=True, attrs={"td": {"class": "nowrap"}})

    def render_leads(self, record: dict[str, Any]) -> str:
        url = reverse("monitoring:leads") + "?" + urlencode({"error_group": record["fingerprint"]})
        return format_html('<a href="{}">Show leads</a>', url)

    class Meta(PortalTable.Meta):
        empty_text = "No failed attempts in this range."


class ActivityTable(PortalTable):
    """real_time_sync_activity rows (the activity page re-renders these from JSON)."""

    synced_at = TimestampColumn("Finished")
    lead_name = tables.Column("Lead", linkify=lead_link("lead_id"))
    email = EmailColumn()
    company_name = tables.Column("Company")
    segment_name = tables.Column("Segment")
    sync_type = BadgeColumn("Type")
    sync_direction = BadgeColumn("Direction")
    sync_status = BadgeColumn("Status")
    error_message = tables.Column("Error")
    fields_changed = JsonColumn("Changed fields", orderable=False)

    class Meta(PortalTable.Meta):
        empty_text = "No sync attempts in this range."


class StuckLeadTable(PortalTable):
    """Leads in 'syncing' for more than 10 minutes."""

    lead_name = tables.Column("Lead", linkify=lead_link())
    email = EmailColumn()
    company_name = tables.Column("Company")
    sync_direction = BadgeColumn("Direction")
    # One column: "Updated" showed the same time (entering 'syncing' is the lead's last update);
    # rows from before the trigger have no sync_started_at and show updated_at, as stuck_leads() measures.
    sync_started_at = TimestampColumn("Syncing since", empty_values=())
    sync_error_count = NumberColumn("Errors")

    def render_sync_started_at(self, record: dict[str, Any]) -> str:
        return format_timestamp(record["sync_started_at"] or record["updated_at"])

    def value_sync_started_at(self, record: dict[str, Any]) -> str:
        moment = record["sync_started_at"] or record["updated_at"]
        return timezone.localtime(moment).isoformat() if moment else ""

    class Meta(PortalTable.Meta):
        empty_text = "No stuck leads."


class WebhookRateTable(PortalTable):
    """Webhook updates per minute over the last hour."""

    minute = TimestampColumn("Minute")
    webhook_count = NumberColumn("Webhook updates")

    class Meta(PortalTable.Meta):
        empty_text = "No webhook updates in the last hour."
