"""The tables' shortcuts give exactly what the general code they replace gives.

format_timestamp() spells out date_format(localtime(value), "Y-m-d H:i:s T"), and lead_detail_url()
swaps the id into one reversed URL instead of calling reverse() per row. Each is compared with the
code it replaces on many values: every zone the portal may be set to, DST changes (where Django
leaves the zone name out), naive values, and script prefixes (the portal behind a sub-path).
"""
from __future__ import annotations

from datetime import datetime, timezone as dt_timezone
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from django.urls import clear_script_prefix, reverse, set_script_prefix
from django.utils import timezone
from django.utils.dateformat import format as date_format
from hypothesis import given, settings as hypothesis_settings, strategies as st

from monitoring.tables.portal import TIMESTAMP_FORMAT, format_timestamp, lead_detail_url, wall_clock

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
