"""Run only by tests/test_reuse_db_rebuild.py, in a pytest subprocess (no test_ prefix: the suite skips it).

Passes on a test database with the rows its migrations wrote and none a test left behind.
"""
from __future__ import annotations

from django.contrib.auth.models import Group

from monitoring.models import Incident, Lead, LeadSyncHistory
from monitoring.roles import OPERATORS_GROUP, VIEWERS_GROUP


def test_the_reused_database_has_its_migrations_rows_and_no_test_rows(db):
    assert Group.objects.filter(name__in=[VIEWERS_GROUP, OPERATORS_GROUP]).count() == 2
    assert not Lead.objects.exists()
    assert not LeadSyncHistory.objects.exists()
    assert not Incident.objects.exists()
