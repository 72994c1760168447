"""The portal's tables render exactly as through django-tables2's own tag and cells.

The portal_table tag renders a table in the page's context (django-tables2's render_table runs
every context processor again per table), the table_head tag builds the header in Python, and the
table_rows tag builds the cells with per-column plans (monitoring.tables.cells) instead of
BoundRow.items(); every page is rendered both ways.
"""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import django_tables2
import pytest
import time_machine
from django.test import override_settings
from django.urls import reverse
from django.utils import translation
from hypothesis import given, strategies as st

from monitoring.models import Lead
from monitoring.navigation import NAVIGATION
from monitoring.services.demo_data import seed_demo
from monitoring.templatetags import portal

ANCHOR = datetime.fromisoformat("2026-11-30T12:00:00+00:00")
# Per-request values: the CSRF token is masked afresh and the CSP nonce is new on every response.
PER_REQUEST = re.compile(r'(name="csrfmiddlewaretoken" value="|nonce=")[^"]*')


# Pages whose main table sorts, with a sort to request.
SORTED = {"monitoring:leads": {"sort": "-created_at"}, "monitoring:errors": {"sort": "-sync_error_count"}}


def by_items(columns):
    """django-tables2's own cells: what its template renders, BoundRow.items() (per cell, the
    column looked up by name, the accessor resolved, the render method called)."""
    names = [column.name for column in columns]
    return [lambda row, name=name: dict((c.name, cell) for c, cell in row.items())[name] for name in names]


def by_render_table(context, table):
    """django-tables2's own {% render_table %} (a fresh RequestContext per table)."""
    tag = context.template.engine.from_string('{% load django_tables2 %}{% render_table table "monitoring/_table.html" %}')
    with context.push(table=table):
        return tag.render(context)


def by_library_thead(context, table):
    """django-tables2's own {% block table.thead %}, compiled from its installed table.html."""
    source = Path(django_tables2.__file__).parent.joinpath("templates/django_tables2/table.html").read_text()
    start = source.index("{% block table.thead %}") + len("{% block table.thead %}")
    block = source[start:source.index("{% endblock table.thead %}")]
    with context.push(table=table):
        return context.template.engine.from_string("{% load django_tables2 %}" + block).render(context)


@pytest.mark.parametrize("page", [name for name, _ in NAVIGATION] + ["lead_detail"])
def test_every_page_renders_the_same_tables_as_django_tables2(superuser_client, monkeypatch, page):
    with time_machine.travel(ANCHOR, tick=False):
        seed_demo(leads=300, history=3_000, days=5, seed=11, now=ANCHOR)
        lead = Lead.objects.filter(sync_status="error").order_by("id").first()
        url = reverse("monitoring:lead-detail", args=[lead.pk]) if page == "lead_detail" else reverse(page)

        # A sorted table too: its header marks the sorted column and every link keeps the query.
        queries = [{}] if page == "lead_detail" else [{"per_page": 100}, {**SORTED.get(page, {}), "per_page": 50}]

        def bodies() -> list[str]:
            pages = []
            for query in queries:
                response = superuser_client.get(url, query)
                assert response.status_code == 200, query
                pages.append(PER_REQUEST.sub(r"\1…", response.content.decode()))
            return pages

        fast = bodies()
        monkeypatch.setattr(portal, "_cell_renderers", by_items)
        monkeypatch.setattr(portal, "_render_table", by_render_table)
        monkeypatch.setattr(portal, "_table_head", by_library_thead)
        monkeypatch.setattr(portal, "_whole_number_format", lambda: None)  # every number through localize()
        assert bodies() == fast
    assert fast[0].count("<td") >= 3  # the page has a table with rows to compare
    if page in SORTED:
        assert re.search(r'<th class="[^"]*\bdesc\b[^"]*"><a href="\?[^"]*per_page=50', fast[1].replace("\n", "").replace("  ", ""))


@pytest.mark.parametrize("language", ["en-us", "de", "fr", "hi"])
@pytest.mark.parametrize("thousands", [True, False])
@given(numbers=st.lists(st.one_of(st.integers(), st.integers(-10**30, 10**30), st.booleans()), max_size=20))
def test_whole_numbers_are_written_as_localize_writes_them(language, thousands, numbers):
    """A table's int cells skip localize() with the separators looked up once per table: the same
    text in every language (grouping 3, or localize() itself where a language groups otherwise) and
    with the thousand separator on or off; booleans still go through localize()."""
    with translation.override(language), override_settings(USE_THOUSAND_SEPARATOR=thousands):
        whole_number = portal._whole_number_format()
        for number in numbers:
            assert portal._cell_html(number, whole_number) == portal._variable_html(number)


def sparkline_with_format_html(value):
    """SparklineColumn.render as it was: format_html per bar (every argument escaped)."""
    from django.utils.html import format_html, format_html_join

    width, height = 90, 18
    counts = [int(v) for v in value]
    peak = max(counts, default=0) or 1
    slots = max(len(counts), 1)
    gap = 2.0 if slots <= 15 else (0.5 if slots <= 40 else 0.0)
    bar = (width - gap * (slots - 1)) / slots
    rects = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
        ((f"{i * (bar + gap):.2f}", f"{height - max(1.0, height * c / peak):.1f}", f"{bar:.2f}",
          f"{max(1.0, height * c / peak):.1f}", c) for i, c in enumerate(counts)),
    )
    return format_html(
        '<svg class="sparkline" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">{}</svg>',
        width, height, width, height, "per bucket, oldest first: " + ", ".join(map(str, counts)), rects,
    )


@given(st.lists(st.one_of(st.integers(-5, 10**12), st.integers(0, 9).map(str)), max_size=170))
def test_sparklines_are_the_markup_format_html_made(counts):
    """The error groups' trend column writes its SVG with f-strings (numbers only); byte for byte
    what format_html made of it, for any length (gaps change at 15 and 40 bars) and count."""
    from monitoring.tables.portal import SparklineColumn

    rendered = SparklineColumn().render(counts)
    assert rendered == sparkline_with_format_html(counts)
    assert hasattr(rendered, "__html__")  # marked safe: the table does not escape it again


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Asia/Kolkata"])
@given(
    moments=st.lists(st.one_of(
        st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(9998, 12, 30), timezones=st.timezones()),
        st.dates(min_value=datetime(1900, 1, 2).date()),
        st.none(),
    ), max_size=8),
    fmt=st.sampled_from([None, "", "Y-m-d H:i:s T", "Y-m-d H:i T", "Y-m", "N j, Y <&>", "DATETIME_FORMAT"]),
    default=st.sampled_from(["—", "<none>", 1234567, datetime(2026, 11, 30).date()]),
)
def test_date_columns_render_as_django_tables2s_template_columns(zone, moments, fmt, default):
    """The portal's DateTimeColumn and DateColumn write out django-tables2's template per cell: the
    same text (display zone, format names, the default for an empty value, escaping)."""
    from django.utils import timezone as django_timezone
    from monitoring.tables import portal as portal_tables

    class Ours(django_tables2.Table):
        at = portal_tables.DateTimeColumn(format=fmt, default=default)
        day = portal_tables.DateColumn(format=fmt, accessor="at", default=default)

    class Library(django_tables2.Table):
        at = django_tables2.DateTimeColumn(format=fmt, default=default)
        day = django_tables2.DateColumn(format=fmt, accessor="at", default=default)

    def cells(table_class):
        out = []
        for moment in moments:
            for name in ("at", "day"):
                try:  # a date under a format with a time raises TypeError in both
                    out.append(next(iter(table_class([{"at": moment}]).rows)).get_cell(name))
                except TypeError as error:
                    out.append(f"TypeError: {error}")
        return out

    with django_timezone.override(zone):
        assert cells(Ours) == cells(Library)


@pytest.mark.parametrize("separator", ["'", "&", " "])
def test_a_separator_from_the_settings_is_escaped_like_localize_output(separator):
    """A language without its own separator takes THOUSAND_SEPARATOR from the settings, which may
    be a character HTML escapes (the Swiss apostrophe)."""
    with translation.override("kn"), override_settings(THOUSAND_SEPARATOR=separator, NUMBER_GROUPING=3):
        whole_number = portal._whole_number_format()
        for number in (0, 999, 1234, -1234567, 10**20):
            assert portal._cell_html(number, whole_number) == portal._variable_html(number)
        assert portal._cell_html(1234, whole_number) == f"1{portal.html.escape(separator)}234"
