"""Shared fixtures: personas for permission tests and a small hand-built sync dataset.

The dataset's numbers (relative to now, as the database sees it) are spelled out in
`sync_dataset`'s docstring; tests assert exact values computed from it by hand.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import redis
from django.contrib.auth.models import Group, User
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from monitoring.choices import HistoryDirection, HistoryStatus, LeadSyncDirection, LeadSyncStatus, SyncType
from monitoring.models import CustomerSegment, Lead, LeadSyncHistory
from monitoring.roles import OPERATORS_GROUP, VIEWERS_GROUP, ensure_role_groups

PASSWORD = "correct horse battery staple"


def delete_run_keys(redis_url: str | None = None, prefix: str | None = None) -> int:
    """Delete the keys this test run wrote (cache and Celery broker), and only those.

    Never FLUSHDB: the Redis database may be shared with a running portal or another test run,
    so the run deletes what lies under its own prefix (settings_test.TEST_RUN_PREFIX).
    """
    prefix = prefix or settings.TEST_RUN_PREFIX
    client = redis.Redis.from_url(redis_url or settings.REDIS_URL, socket_connect_timeout=5, socket_timeout=5)
    try:
        # The prefix is a fixed run id (letters, digits, dashes) plus ":": no glob characters in it.
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.unlink(*keys)
        return len(keys)
    finally:
        client.close()


@pytest.fixture(autouse=True, scope="session")
def _clean_run_keys_at_the_end():
    yield
    delete_run_keys()  # whatever a session-scoped fixture or a killed worker left behind


@pytest.fixture(autouse=True)
def _clean_cache():
    """Each test starts with none of the run's Redis keys (snapshots, throttles, queues)."""
    delete_run_keys()
    yield
    delete_run_keys()


# ANALYZE writes pg_class.reltuples/relpages in place, outside MVCC: a test's rollback left them
# behind and later tests saw another test's table sizes (a bounded count of 2 became "20,000,
# estimated"). If the test's transaction has already updated those pg_class rows, ANALYZE
# overwrites its own uncommitted row versions instead, and the rollback takes its figures away
# with them (pg_statistic is transactional anyway). Done for every ANALYZE a test sends, its own
# or from code it calls (seed_demo), and only then: the update touches ~160 catalog rows.
_PIN_PLANNER_STATISTICS = (
    "UPDATE pg_class SET reltuples = reltuples "
    "WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'm', 'p', 'i', 'I')"
)


def _statistics_roll_back_with_the_test(execute, sql, params, many, context):
    if isinstance(sql, str) and sql.lstrip()[:7].upper() == "ANALYZE" and context["connection"].in_atomic_block:
        execute(_PIN_PLANNER_STATISTICS, None, False, context)
    return execute(sql, params, many, context)


@pytest.fixture(autouse=True)
def _planner_statistics_roll_back():
    """ANALYZE inside a test's transaction leaves no statistics behind for the next test."""
    with connection.execute_wrapper(_statistics_roll_back_with_the_test):
        yield


def _user(username: str, *, staff: bool = False, superuser: bool = False, group: str | None = None) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD)
    user.is_staff = staff or superuser
    user.is_superuser = superuser
    user.save()
    if group:
        ensure_role_groups()  # a transactional test before this one may have flushed them
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def non_staff(db) -> User:
    return _user("nonstaff")


@pytest.fixture
def viewer(db) -> User:
    return _user("viewer", staff=True, group=VIEWERS_GROUP)


@pytest.fixture
def operator(db) -> User:
    return _user("operator", staff=True, group=OPERATORS_GROUP)


@pytest.fixture
def superuser(db) -> User:
    return _user("root", superuser=True)


def _client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def anonymous_client(db) -> Client:
    return Client()


@pytest.fixture
def non_staff_client(non_staff) -> Client:
    return _client_for(non_staff)


@pytest.fixture
def viewer_client(viewer) -> Client:
    return _client_for(viewer)


@pytest.fixture
def operator_client(operator) -> Client:
    return _client_for(operator)


@pytest.fixture
def superuser_client(superuser) -> Client:
    return _client_for(superuser)


@dataclass
class SyncDataset:
    now: datetime
    enterprise: CustomerSegment
    smb: CustomerSegment
    ada: Lead  # synced, Enterprise
    grace: Lead  # synced, SMB
    alan: Lead  # error x7 (429), Enterprise
    katherine: Lead  # error x2 (500), no last name, no segment
    linus: Lead  # pending, 10 min old (not stale)
    barbara: Lead  # pending, 3 h old (stale)
    edsger: Lead  # syncing for 25 min (stuck)
    donald: Lead  # conflict


def _lead(**fields) -> Lead:
    updated_at = fields.pop("updated_at", None)
    lead = Lead.objects.create(**fields)
    if updated_at is not None:
        Lead.objects.filter(pk=lead.pk).update(updated_at=updated_at)
    lead.refresh_from_db()
    return lead


def _attempt(lead: Lead, *, finished: datetime, seconds: float, **fields) -> LeadSyncHistory:
    return LeadSyncHistory.objects.create(
        lead=lead, created_at=finished - timedelta(seconds=seconds), synced_at=finished, **fields
    )


@pytest.fixture
def sync_dataset(db) -> SyncDataset:
    """Eight leads, eight attempts. Hand-computed facts (m = minutes ago):

    leads: total 8; synced 2 (ada, grace); pending 2 (linus 10m old, barbara 3h old = stale);
    error 2 (alan count 7, katherine count 2); syncing 1 (edsger, started 25m ago = stuck);
    conflict 1 (donald). last_synced within 1 h: ada 10m, alan 20m, donald 30m, katherine 40m = 4.
    Never synced: linus, barbara = 2. Due (all but fresh pending): 7 -> success 2/7 = 28.57 %;
    error_rate 2/8 = 25.00 % -> overall_health critical.
    History (8 rows): synced ada 10m (5 s, t->s, scheduled), ada 50m (3 s, s->t, webhook),
    grace 2h (10 s, s->t, scheduled), edsger 25h (4 s, t->s, scheduled, outside 24 h);
    error alan 20m (2 s, t->s, retry, "Twenty API 429: rate limit exceeded for lead 123"),
    alan 3h (2 s, t->s, scheduled, "Twenty API 429: rate limit exceeded for lead 456"),
    katherine 40m (1 s, s->t, webhook, "Twenty API 500: internal error");
    conflict donald 30m (4 s, t->s, webhook).
    Last hour: 5 attempts (ada 10m, ada 50m, alan 20m, katherine 40m, donald 30m), 2 errors = 40.00 %.
    24 h errors: 3 attempts, 2 leads, last at 20m. Median synced attempt in 24 h: [3, 5, 10] -> 5 s.
    """
    now = timezone.now()
    m = lambda minutes: now - timedelta(minutes=minutes)  # noqa: E731
    enterprise = CustomerSegment.objects.create(segment_name="Enterprise", description="Large accounts")
    smb = CustomerSegment.objects.create(segment_name="SMB", description="Small and medium businesses")
    common = {"phone": "+1 555 0100", "job_title": "Engineer"}
    ada = _lead(
        first_name="Ada", last_name="Lovelace", email="ada@example.com", company_name="Analytical Engines",
        lead_source="website", lead_score=90, segment=enterprise, segment_confidence=Decimal("0.900"),
        twenty_id="tw-ada", sync_status=LeadSyncStatus.SYNCED, sync_direction=LeadSyncDirection.BIDIRECTIONAL,
        last_synced_at=m(10), created_at=now - timedelta(days=2), **common,
    )
    grace = _lead(
        first_name="Grace", last_name="Hopper", email="grace@example.com", company_name="Navy",
        lead_source="referral", lead_score=70, segment=smb, segment_confidence=Decimal("0.800"),
        twenty_id="tw-grace", sync_status=LeadSyncStatus.SYNCED, sync_direction=LeadSyncDirection.SUPABASE_TO_TWENTY,
        last_synced_at=m(120), created_at=now - timedelta(days=3), **common,
    )
    alan = _lead(
        first_name="Alan", last_name="Turing", email="alan@example.com", company_name="Bletchley",
        lead_source="website", lead_score=50, segment=enterprise, segment_confidence=Decimal("0.500"),
        sync_status=LeadSyncStatus.ERROR, sync_direction=LeadSyncDirection.TWENTY_TO_SUPABASE,
        sync_error_count=7, sync_error_message="Twenty API 429: rate limit exceeded",
        last_synced_at=m(20), created_at=now - timedelta(days=1), **common,
    )
    katherine = _lead(
        first_name="Katherine", last_name=None, email="katherine@example.com", company_name="NASA",
        lead_source="linkedin", lead_score=30, sync_status=LeadSyncStatus.ERROR,
        sync_direction=LeadSyncDirection.SUPABASE_TO_TWENTY, sync_error_count=2,
        sync_error_message="Twenty API 500: internal error", last_synced_at=m(40), created_at=m(300), **common,
    )
    linus = _lead(
        first_name="Linus", last_name="Torvalds", email="linus@example.com", company_name="Kernel",
        lead_source="website", lead_score=60, segment=smb, segment_confidence=Decimal("0.600"),
        sync_status=LeadSyncStatus.PENDING, created_at=m(10), **common,
    )
    barbara = _lead(
        first_name="Barbara", last_name="Liskov", email="barbara@example.com", company_name="MIT",
        lead_source="referral", lead_score=40, sync_status=LeadSyncStatus.PENDING, created_at=m(180), **common,
    )
    edsger = _lead(
        first_name="Edsger", last_name="Dijkstra", email="edsger@example.com", company_name="Eindhoven",
        lead_source="website", lead_score=80, segment=enterprise, segment_confidence=Decimal("0.700"),
        twenty_id="tw-edsger", sync_status=LeadSyncStatus.SYNCING, sync_direction=LeadSyncDirection.TWENTY_TO_SUPABASE,
        sync_started_at=m(25), updated_at=m(25), last_synced_at=now - timedelta(days=1), created_at=now - timedelta(days=4),
        **common,
    )
    donald = _lead(
        first_name="Donald", last_name="Knuth", email="donald@example.com", company_name="Stanford",
        lead_source="referral", lead_score=95, segment=smb, segment_confidence=Decimal("0.950"),
        twenty_id="tw-donald", sync_status=LeadSyncStatus.CONFLICT, sync_direction=LeadSyncDirection.BIDIRECTIONAL,
        last_synced_at=m(30), created_at=now - timedelta(days=5), **common,
    )
    t2s, s2t = HistoryDirection.TWENTY_TO_SUPABASE, HistoryDirection.SUPABASE_TO_TWENTY
    ok, err, conflict = HistoryStatus.SYNCED, HistoryStatus.ERROR, HistoryStatus.CONFLICT
    _attempt(ada, finished=m(10), seconds=5, sync_type=SyncType.SCHEDULED, sync_direction=t2s, sync_status=ok,
             fields_changed={"email": ["old@example.com", "ada@example.com"]})
    _attempt(ada, finished=m(50), seconds=3, sync_type=SyncType.WEBHOOK_UPDATE, sync_direction=s2t, sync_status=ok,
             fields_changed={"lead_score": [85, 90]})
    _attempt(grace, finished=m(120), seconds=10, sync_type=SyncType.SCHEDULED, sync_direction=s2t, sync_status=ok)
    _attempt(edsger, finished=now - timedelta(hours=25), seconds=4, sync_type=SyncType.SCHEDULED,
             sync_direction=t2s, sync_status=ok)
    _attempt(alan, finished=m(20), seconds=2, sync_type=SyncType.RETRY, sync_direction=t2s, sync_status=err,
             error_message="Twenty API 429: rate limit exceeded for lead 123")
    _attempt(alan, finished=m(180), seconds=2, sync_type=SyncType.SCHEDULED, sync_direction=t2s, sync_status=err,
             error_message="Twenty API 429: rate limit exceeded for lead 456")
    _attempt(katherine, finished=m(40), seconds=1, sync_type=SyncType.WEBHOOK_UPDATE, sync_direction=s2t,
             sync_status=err, error_message="Twenty API 500: internal error")
    _attempt(donald, finished=m(30), seconds=4, sync_type=SyncType.WEBHOOK_UPDATE, sync_direction=t2s,
             sync_status=conflict, fields_changed={"company_name": ["Stanford U", "Stanford"]})
    return SyncDataset(now, enterprise, smb, ada, grace, alan, katherine, linus, barbara, edsger, donald)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a transactional test without serialized_rollback.

    Its flush afterwards emits post_migrate, which re-creates content types and permissions under
    new ids; every later serialized test then fails to restore its rows (a duplicate
    (admin, logentry) content type), and which tests fail depends on the order they run in.
    """
    offenders = []
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None:
            continue
        transaction = marker.kwargs.get("transaction", marker.args[0] if marker.args else False)
        if transaction and not marker.kwargs.get("serialized_rollback", False):
            offenders.append(item.nodeid)
    if offenders:
        raise pytest.UsageError(
            "transactional tests need serialized_rollback=True (see tests/conftest.py):\n  " + "\n  ".join(offenders))


def _reused_test_database_was_left_broken(dbname: str | None = None) -> bool:
    """True if the test database (or `dbname`) has its migrations recorded but lost their rows or keeps a test's rows."""
    import psycopg

    db = settings.DATABASES["default"]
    params = {
        "host": db.get("HOST") or None, "port": db.get("PORT") or None, "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None, "connect_timeout": 5,
        "dbname": dbname or (db.get("TEST") or {}).get("NAME") or f"test_{db['NAME']}",
    }
    try:
        with psycopg.connect(**{key: value for key, value in params.items() if value is not None}) as conn:
            row = conn.execute(
                "SELECT to_regclass('django_migrations') IS NOT NULL AND to_regclass('auth_group') IS NOT NULL"
                " AND to_regclass('monitoring_alert_incident') IS NOT NULL AND to_regclass('leads') IS NOT NULL"
                " AND to_regclass('lead_sync_history') IS NOT NULL"
            ).fetchone()
            if not row[0]:
                return False
            # Flushed (no role groups), or rows a killed transactional test committed and never
            # flushed (an open incident then broke every later test that fires the same rule).
            return conn.execute(
                "SELECT EXISTS (SELECT 1 FROM django_migrations) AND (NOT EXISTS (SELECT 1 FROM auth_group)"
                " OR EXISTS (SELECT 1 FROM monitoring_alert_incident) OR EXISTS (SELECT 1 FROM leads)"
                " OR EXISTS (SELECT 1 FROM lead_sync_history))"
            ).fetchone()[0]
    except psycopg.OperationalError:  # no test database yet: pytest-django creates it
        return False


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """With --reuse-db, build the test database again if a killed run left it flushed or dirty.

    pytest_sessionfinish below puts the migrations' rows back after a transactional test, but a run
    killed in the middle of one (mutmut stops a mutant that loops at its CPU-time limit) never gets
    there. Every later --reuse-db run then saw a database without role groups, alert rules and
    schedules, and failed for that reason alone: mutmut counted such mutants as killed.
    """
    if not config.getoption("reuse_db", default=False) or config.getoption("create_db", default=False):
        return
    if _reused_test_database_was_left_broken():
        config.option.create_db = True


def pytest_sessionfinish(session: pytest.Session) -> None:
    """With --reuse-db, leave the test database with the rows its migrations wrote.

    A transactional test flushes every table when it ends (serialized_rollback restores the rows
    before the next one, not after), so a run whose last test is transactional left a database
    without alert rules, role groups and schedules, and the next --reuse-db run (mutmut runs one
    per mutant) failed for that reason alone. Saving the serialized rows again is idempotent.
    """
    if not session.config.getoption("reuse_db", default=False):
        return
    from django.db import connection
    from pytest_django.plugin import blocking_manager_key

    contents = getattr(connection, "_test_serialized_contents", None)
    if not contents:
        return
    with session.config.stash[blocking_manager_key].unblock():
        connection.creation.deserialize_db_from_string(contents)
