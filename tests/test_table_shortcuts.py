"""The tables' shortcuts give exactly what the general code they replace gives.

format_timestamp() spells out date_format(localtime(value), "Y-m-d H:i:s T"), and lead_detail_url()
swaps the id into one reversed URL instead of calling reverse() per row. Each is compared with the
code it replaces on many values: every zone the portal may be set to, DST changes (where Django
leaves the zone name out), naive values, and script prefixes (the portal behind a sub-path).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from django.urls import clear_script_prefix, reverse, set_script_prefix
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.timezone import template_localtime
from hypothesis import given, settings as hypothesis_settings, strategies as st

from monitoring.selectors import rollups as rollup_selectors
from monitoring.tables.portal import TIMESTAMP_FORMAT, format_timestamp, lead_detail_url, wall_clock
from monitoring.templatetags import portal as portal_tags

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "America/Sao_Paulo"]
MOMENTS = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1))


def django_format(value: datetime) -> str:
    """What format_timestamp() returned before: Django's own formatter."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt_timezone.utc)
    return date_format(timezone.localtime(value), TIMESTAMP_FORMAT)


@pytest.mark.parametrize("zone", ZONES)
@hypothesis_settings(max_examples=300, deadline=None)
@given(moment=MOMENTS, naive=st.booleans())
def test_format_timestamp_is_djangos_format(zone, moment, naive):
    value = moment if naive else moment.replace(tzinfo=dt_timezone.utc)
    with override_settings(TIME_ZONE=zone):
        assert format_timestamp(value) == django_format(value)


@pytest.mark.parametrize("zone", ZONES)
@hypothesis_settings(max_examples=200, deadline=None)
@given(moment=MOMENTS, fold=st.integers(0, 1))
def test_wall_clock_is_djangos_format_in_every_shape(zone, moment, fold):
    """The bucket column's "Y-m-d" and "Y-m-d H:i T", on wall times of the zone itself (fold: the
    second of a repeated hour), naive ones too."""
    local = moment.replace(tzinfo=ZoneInfo(zone), fold=fold)
    assert wall_clock(local, time=False) == date_format(local, "Y-m-d")
    assert wall_clock(local) == date_format(local, "Y-m-d H:i T")
    assert wall_clock(local, seconds=True) == date_format(local, "Y-m-d H:i:s T")
    with override_settings(TIME_ZONE=zone):
        assert wall_clock(moment) == date_format(moment, "Y-m-d H:i T")


@pytest.mark.parametrize(
    ("zone", "utc_moment", "expected"),
    [
        # 02:30 CEST then 02:30 CET on 2026-10-25: the wall time occurs twice, Django omits the name.
        ("Europe/Berlin", datetime(2026, 10, 25, 0, 30), "2026-10-25 02:30:00 "),
        ("Europe/Berlin", datetime(2026, 10, 25, 1, 30), "2026-10-25 02:30:00 "),
        ("Europe/Berlin", datetime(2026, 10, 25, 2, 30), "2026-10-25 03:30:00 CET"),
        ("Europe/Berlin", datetime(2026, 7, 1, 12, 0, 5), "2026-07-01 14:00:05 CEST"),
        ("UTC", datetime(2026, 11, 28, 18, 20, 5), "2026-11-28 18:20:05 UTC"),
        ("Asia/Kathmandu", datetime(2026, 1, 1, 0, 0), "2026-01-01 05:45:00 +0545"),
    ],
)
def test_format_timestamp_across_a_dst_change(zone, utc_moment, expected):
    value = utc_moment.replace(tzinfo=dt_timezone.utc)
    with override_settings(TIME_ZONE=zone):
        assert format_timestamp(value) == expected == django_format(value)


def test_format_timestamp_of_nothing_is_empty():
    assert format_timestamp(None) == ""


@pytest.mark.parametrize("script_prefix", ["/", "/ops/portal/", "/a b/"])
@hypothesis_settings(max_examples=100, deadline=None)
@given(lead_id=st.uuids(), as_text=st.booleans())
def test_lead_detail_url_is_reverse(script_prefix, lead_id, as_text):
    set_script_prefix(script_prefix)
    try:
        expected = reverse("monitoring:lead-detail", args=[lead_id])
        assert lead_detail_url(str(lead_id) if as_text else lead_id) == expected
        assert expected.startswith(script_prefix.replace(" ", "%20"))
    finally:
        clear_script_prefix()


def test_lead_detail_url_of_a_row_without_a_lead_is_no_link():
    assert lead_detail_url(None) is None


def test_a_malformed_lead_id_is_refused_not_linked():
    with pytest.raises(ValueError):
        lead_detail_url("../../admin")


@pytest.mark.parametrize("thousands", [False, True])
@pytest.mark.parametrize(
    "value",
    ["plain", "<b>&\"quotes\"'</b>", "", mark_safe("<i>safe</i>"), 0, 1234567, -5, Decimal("1234.50"), 3.25,
     None, True, datetime(2026, 11, 30, 12, 0, 5, tzinfo=dt_timezone.utc)],
)
def test_cell_html_is_what_the_template_prints(value, thousands):
    """table_rows prints each cell as {{ cell }} would: localized, in the display zone, escaped
    unless safe; plain text takes a shortcut that must not change that."""
    with override_settings(USE_THOUSAND_SEPARATOR=thousands):
        assert portal_tags._cell_html(value) == conditional_escape(localize(template_localtime(value)))


def test_day_rows_are_whole_utc_days_inside_a_zoned_range_across_dst():
    """A custom range in a DST zone (its ends and bucket starts are zoned datetimes): every day read
    from day rows starts at a UTC midnight, lies inside the range and holds no bucket edge."""
    zone = ZoneInfo("America/New_York")
    since = datetime(2026, 3, 1, tzinfo=zone)
    end = datetime(2026, 4, 15, tzinfo=zone)
    edges = [datetime(2026, 3, 1, tzinfo=zone) + timedelta(days=d) for d in range(1, 45)]  # local midnights
    weeks = [edge for edge in edges if edge.weekday() == 0]
    for group_edges in (edges, weeks):
        plan = rollup_selectors.plan_window(
            now=datetime(2026, 4, 20, tzinfo=dt_timezone.utc), since=since, open_edges=[end],
            group_edges=group_edges, day_rows=True,
        )
        for lo, hi in plan.day_ranges:
            assert lo.utcoffset() == timedelta(0) and (lo.hour, lo.minute) == (0, 0) and (hi - lo) % timedelta(days=1) == timedelta(0)
            assert since < lo and hi <= end
            assert not any(lo < edge < hi and edge.astimezone(dt_timezone.utc).hour != 0 for edge in group_edges)
        # Local midnights are 04:00 or 05:00 UTC: every day holds one (days), or the weeks' days do.
        assert plan.day_ranges == [] if group_edges is edges else plan.day_ranges
