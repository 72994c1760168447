"""The monthly export: whole archived months to verified gzip files; nothing deleted unverified."""
from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import time
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

import pytest
import time_machine
from django.db import connection

from monitoring.models import ArchiveExport, ArchiveExportStatus, JobOutcome, JobRun, LeadSyncHistoryArchive
from monitoring.services import maintenance
from monitoring.tasks import maintenance as tasks

from .maintenance_helpers import ids, insert_history, make_lead

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=dt_timezone.utc)
ARCHIVE = "lead_sync_history_archive"
SEPTEMBER, OCTOBER = date(2026, 9, 1), date(2026, 10, 1)


@pytest.fixture
def archived(db) -> dict[str, list[int]]:
    """Archive rows: September 3 (incl. the first and last instant), October 2, November 1 (month not over)."""
    lead = make_lead()
    sept = insert_history(lead, datetime(2026, 9, 1, tzinfo=dt_timezone.utc), table=ARCHIVE)
    sept += insert_history(lead, datetime(2026, 9, 15, 8, 30, tzinfo=dt_timezone.utc), table=ARCHIVE)
    sept += insert_history(lead, datetime(2026, 10, 1, tzinfo=dt_timezone.utc) - timedelta(microseconds=1), table=ARCHIVE)
    octo = insert_history(lead, datetime(2026, 10, 20, tzinfo=dt_timezone.utc), count=2, table=ARCHIVE)
    nov = insert_history(lead, datetime(2026, 11, 2, tzinfo=dt_timezone.utc), table=ARCHIVE)
    return {"sept": sept, "oct": octo, "nov": nov}


def _file_rows(path) -> list[dict]:
    with gzip.open(path, "rt") as lines:
        return [json.loads(line) for line in lines]


def _db_rows(row_ids: list[int]) -> list[dict]:
    rows = []
    for row in LeadSyncHistoryArchive.objects.filter(id__in=row_ids).order_by("id"):
        rows.append({
            "id": row.id, "lead_id": str(row.lead_id), "sync_type": row.sync_type,
            "sync_direction": row.sync_direction, "sync_status": row.sync_status,
            "fields_changed": row.fields_changed, "error_message": row.error_message,
            "created_at": row.created_at, "synced_at": row.synced_at, "archived_at": row.archived_at,
        })
    return rows


def _parsed(rows: list[dict]) -> list[dict]:
    return [
        {**row, **{k: datetime.fromisoformat(row[k]) for k in ("created_at", "synced_at", "archived_at")}}
        for row in rows
    ]


def test_export_writes_each_whole_month_with_exactly_its_rows(archived, tmp_path):
    result = maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=False, now=NOW)

    assert result.exported == ["2026-09", "2026-10"] and result.problems == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "lead_sync_history_2026-09.jsonl.gz", "lead_sync_history_2026-10.jsonl.gz",
    ]
    september = tmp_path / "lead_sync_history_2026-09.jsonl.gz"
    assert _parsed(_file_rows(september)) == _db_rows(archived["sept"])
    assert [row["id"] for row in _file_rows(tmp_path / "lead_sync_history_2026-10.jsonl.gz")] == archived["oct"]

    manifest = ArchiveExport.objects.get(month=SEPTEMBER)
    assert manifest.row_count == 3
    assert manifest.id_sum == Decimal(sum(archived["sept"]))
    assert manifest.sha256 == hashlib.sha256(september.read_bytes()).hexdigest()
    assert manifest.size_bytes == september.stat().st_size
    assert (manifest.status, manifest.verified_at) == (ArchiveExportStatus.VERIFIED, NOW)
    # Deleting is off by default: every row is still in the archive table.
    assert ids(ARCHIVE) == sorted(archived["sept"] + archived["oct"] + archived["nov"])
    assert result.steps["2026-09 delete"].startswith("skipped: ARCHIVE_DELETE_AFTER_EXPORT is off")


def test_export_run_again_writes_no_new_file(archived, tmp_path):
    maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=False, now=NOW)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    again = maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=False, now=NOW)

    assert again.exported == [] and again.verified == ["2026-09", "2026-10"]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert ArchiveExport.objects.count() == 2


def test_export_deletes_rows_only_after_verifying_and_only_when_asked(archived, tmp_path):
    result = maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=True, now=NOW)

    assert result.rows_deleted == 5
    assert ids(ARCHIVE) == archived["nov"]  # the month that is not over stays
    september = ArchiveExport.objects.get(month=SEPTEMBER)
    assert (september.rows_deleted, september.deleted_at is not None) == (3, True)
    # The files still hold the deleted rows.
    assert len(_file_rows(tmp_path / september.file_name)) == 3

    again = maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=True, now=NOW)
    assert (again.exported, again.rows_deleted, again.problems) == ([], 0, [])


def test_corrupted_file_is_detected_and_nothing_is_deleted(archived, tmp_path, settings):
    maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=False, now=NOW)
    september = tmp_path / "lead_sync_history_2026-09.jsonl.gz"
    # Same gzip validity, different content: one row dropped, as a bad copy or a tampering would.
    with gzip.open(september, "rt") as lines:
        kept_lines = lines.readlines()[:-1]
    with gzip.open(september, "wt") as out:
        out.writelines(kept_lines)
    damaged = september.read_bytes()
    settings.ARCHIVE_DIR = tmp_path
    settings.ARCHIVE_DELETE_AFTER_EXPORT = True

    with time_machine.travel(NOW, tick=False), pytest.raises(tasks.MaintenanceProblem, match="2026-09"):
        tasks.export_archive_months()

    assert ArchiveExport.objects.get(month=SEPTEMBER).status == ArchiveExportStatus.CORRUPT
    assert september.read_bytes() == damaged  # evidence kept, not overwritten
    assert sorted(set(ids(ARCHIVE)) & set(archived["sept"])) == archived["sept"]  # nothing of September deleted
    run = JobRun.objects.get(task_name="monitoring.export_archive_months")
    assert run.outcome == JobOutcome.FAILED
    assert "lead_sync_history_2026-09.jsonl.gz does not match its manifest (file has 2 rows" in run.error
    # The healthy month went ahead.
    assert ids(ARCHIVE) == sorted(archived["sept"] + archived["nov"])


def test_truncated_gzip_is_detected(archived, tmp_path):
    maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=False, now=NOW)
    october = tmp_path / "lead_sync_history_2026-10.jsonl.gz"
    october.write_bytes(october.read_bytes()[:-10])

    result = maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=True, now=NOW)

    assert result.problems == [
        "2026-10: lead_sync_history_2026-10.jsonl.gz does not match its manifest "
        "(EOFError: Compressed file ended before the end-of-stream marker was reached); nothing deleted"
    ]
    assert set(archived["oct"]) <= set(ids(ARCHIVE))


def test_a_month_with_rows_still_in_the_hot_table_is_not_exported(archived, tmp_path):
    insert_history(make_lead("Grace"), datetime(2026, 10, 31, 23, 0, tzinfo=dt_timezone.utc))

    result = maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=True, now=NOW)

    assert result.exported == ["2026-09"]
    assert result.steps["2026-10"].startswith("skipped: some of its rows are still in lead_sync_history")
    assert set(archived["oct"]) <= set(ids(ARCHIVE))


def test_a_missing_file_is_written_again_from_the_rows_still_archived(archived, tmp_path):
    maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=False, now=NOW)
    (tmp_path / "lead_sync_history_2026-10.jsonl.gz").unlink()

    result = maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=False, now=NOW)

    assert result.exported == ["2026-10"]
    assert result.steps["2026-10"] == "file lead_sync_history_2026-10.jsonl.gz is missing; exporting the 2 archived rows again"
    assert [row["id"] for row in _file_rows(tmp_path / "lead_sync_history_2026-10.jsonl.gz")] == archived["oct"]


def test_rows_that_differ_from_the_file_are_not_deleted(archived, tmp_path):
    maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=False, now=NOW)
    export = ArchiveExport.objects.get(month=OCTOBER)
    export.row_count = 1  # as if the file held fewer rows than the table now does

    with pytest.raises(maintenance._RowsChanged, match="2 rows"):
        maintenance._delete_exported_rows(export)

    assert set(archived["oct"]) <= set(ids(ARCHIVE))


# ---- the branches of a month already exported: file gone, rows late, re-export, a race -----------


def _september_file(tmp_path):
    return tmp_path / "lead_sync_history_2026-09.jsonl.gz"


def test_a_missing_file_whose_rows_were_deleted_is_reported_not_rewritten(archived, tmp_path):
    maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=True, now=NOW)
    # A month an earlier check flagged is checked again on every run until an operator fixes it.
    ArchiveExport.objects.filter(month=SEPTEMBER).update(status=ArchiveExportStatus.CORRUPT)
    _september_file(tmp_path).unlink()

    result = maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=True, now=NOW)

    assert result.problems == ["2026-09: file lead_sync_history_2026-09.jsonl.gz is missing and its rows were already deleted"]
    assert result.steps["2026-09"] == f"PROBLEM: {result.problems[0]}"
    assert result.exported == [] and not _september_file(tmp_path).exists()  # no empty file passed off as the month
    assert ArchiveExport.objects.get(month=SEPTEMBER).status == ArchiveExportStatus.MISSING
    assert ArchiveExport.objects.get(month=OCTOBER).status == ArchiveExportStatus.VERIFIED


def test_a_flagged_emptied_month_whose_file_is_back_is_verified_and_left_alone(archived, tmp_path):
    maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=True, now=NOW)
    before = _september_file(tmp_path).read_bytes()
    # Flagged by an earlier check (say the disk was unmounted), then the file is back as it was.
    ArchiveExport.objects.filter(month=SEPTEMBER).update(status=ArchiveExportStatus.CORRUPT, verified_at=None)

    again = maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=True, now=NOW)

    assert again.steps["2026-09"] == "skipped: already exported (3 rows) and emptied"
    assert (again.exported, again.problems, again.rows_deleted) == ([], [], 0)
    assert again.verified == ["2026-09"]
    assert (ArchiveExport.objects.get(month=SEPTEMBER).status, ArchiveExport.objects.get(month=SEPTEMBER).verified_at) == (
        ArchiveExportStatus.VERIFIED, NOW)
    assert _september_file(tmp_path).read_bytes() == before


def test_rows_reaching_the_archive_after_the_month_was_exported_and_emptied_are_a_problem(archived, tmp_path):
    maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=True, now=NOW)
    before = _september_file(tmp_path).read_bytes()
    late = insert_history(make_lead("Grace"), datetime(2026, 9, 20, tzinfo=dt_timezone.utc), table=ARCHIVE)

    result = maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=True, now=NOW)

    assert result.problems == ["2026-09: 1 rows reached the archive after the month was exported and emptied"]
    assert result.steps["2026-09"] == f"PROBLEM: {result.problems[0]}"
    assert set(late) <= set(ids(ARCHIVE))  # kept for an operator to look at
    assert _september_file(tmp_path).read_bytes() == before  # the verified file is not overwritten
    assert ArchiveExport.objects.get(month=SEPTEMBER).row_count == 3


def test_rows_reaching_the_archive_before_deleting_are_exported_again_with_them(archived, tmp_path):
    maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=False, now=NOW)
    late = insert_history(make_lead("Grace"), datetime(2026, 10, 25, tzinfo=dt_timezone.utc), table=ARCHIVE)

    result = maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=False, now=NOW)

    assert result.exported == ["2026-10"] and result.problems == []
    assert result.steps["2026-10"] == "archive holds 3 rows, the file 2: exporting again"
    october = tmp_path / "lead_sync_history_2026-10.jsonl.gz"
    assert [row["id"] for row in _file_rows(october)] == archived["oct"] + late
    manifest = ArchiveExport.objects.get(month=OCTOBER)
    assert (manifest.row_count, manifest.id_sum, manifest.status) == (3, Decimal(sum(archived["oct"] + late)),
                                                                      ArchiveExportStatus.VERIFIED)


def test_a_row_arriving_between_verifying_and_deleting_keeps_the_whole_month(archived, tmp_path, monkeypatch):
    verify = maintenance._verify
    late: list[int] = []

    def verify_then_a_row_arrives(export, path, **kwargs):
        ok = verify(export, path, **kwargs)
        if export.month == OCTOBER:
            late.extend(insert_history(make_lead("Grace"), datetime(2026, 10, 25, tzinfo=dt_timezone.utc), table=ARCHIVE))
        return ok

    monkeypatch.setattr(maintenance, "_verify", verify_then_a_row_arrives)
    result = maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=True, now=NOW)

    assert result.problems == [
        f"2026-10: not deleted: 3 rows (id sum {sum(archived['oct'] + late)}) in the archive, 2 in the file"
    ]
    assert result.rows_deleted == 3  # September only
    assert set(archived["oct"] + late) <= set(ids(ARCHIVE))
    october = ArchiveExport.objects.get(month=OCTOBER)
    assert (october.rows_deleted, october.deleted_at) == (0, None)  # never marked as emptied
    assert result.steps["2026-10 delete"] == f"PROBLEM: {result.problems[0]}"


# ---- month bounds, time zones and the exact bytes of a file ------------------------------------


@pytest.fixture
def new_york_everywhere(settings):
    """The portal's TIME_ZONE and the worker process's local zone both New York (UTC-5 in winter)."""
    settings.TIME_ZONE = "America/New_York"
    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def _archive_row_at(lead, at: datetime, *, error: str | None = None) -> int:
    [row_id] = insert_history(lead, at, table=ARCHIVE)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ARCHIVE} SET archived_at = %s, error_message = %s WHERE id = %s",
            [datetime(2026, 1, 1, 1, 30, tzinfo=dt_timezone.utc), error, row_id],
        )
    return row_id


def test_december_is_cut_at_utc_midnight_of_new_year_whatever_the_local_zones(db, tmp_path, new_york_everywhere, caplog):
    caplog.set_level(logging.INFO, logger="monitoring.services.maintenance")
    utc = dt_timezone.utc
    lead = make_lead()
    insert_history(lead, datetime(2025, 11, 30, 12, 0, tzinfo=utc))  # November still has a row in the hot table
    _archive_row_at(lead, datetime(2025, 11, 20, tzinfo=utc))
    december = [
        _archive_row_at(lead, datetime(2025, 12, 1, 0, 30, tzinfo=utc), error="Zoë’s “quota” ✓"),  # Nov 30 in New York
        _archive_row_at(lead, datetime(2026, 1, 1, tzinfo=utc) - timedelta(microseconds=1)),
    ]
    _archive_row_at(lead, datetime(2026, 1, 1, 0, 0, tzinfo=utc))  # January: the current month (Dec 31 in New York)
    _archive_row_at(lead, datetime(2026, 1, 1, 1, 0, tzinfo=utc))
    now = datetime(2026, 1, 1, 2, 0, tzinfo=utc)  # still 2025 in New York
    archive_dir = tmp_path / "not" / "there yet"

    result = maintenance.export_archive_months(archive_dir=archive_dir, delete_after_export=True, now=now)

    path = archive_dir / "lead_sync_history_2025-12.jsonl.gz"
    assert (result.exported, result.problems, result.archive_dir) == (["2025-12"], [], str(archive_dir))
    assert result.as_detail()["exported"] == ["2025-12"]
    assert [row["id"] for row in _file_rows(path)] == december
    raw = path.read_bytes()
    # gzip header: no file name, mtime 0 (a re-export is byte-identical), best compression, unknown OS.
    assert raw[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    with gzip.open(path, "rb") as lines:
        first = lines.readline()
    assert first == (
        '{"id":%d,"lead_id":"%s","sync_type":"scheduled","sync_direction":"twenty_to_supabase",'
        '"sync_status":"synced","fields_changed":{"n":1},"error_message":"Zoë’s “quota” ✓",'
        '"created_at":"2025-12-01T00:29:59+00:00","synced_at":"2025-12-01T00:30:00+00:00",'
        '"archived_at":"2026-01-01T01:30:00+00:00"}\n' % (december[0], lead.pk)
    ).encode()
    sha256 = hashlib.sha256(raw).hexdigest()
    assert result.steps == {
        "2025-11": "skipped: some of its rows are still in lead_sync_history (clean-up has not moved them yet)",
        "2025-12 write": f"2 rows -> lead_sync_history_2025-12.jsonl.gz ({len(raw)} bytes, sha256 {sha256[:12]}…)",
        "2025-12 verify": "lead_sync_history_2025-12.jsonl.gz read back: 2 rows, checksum matches the manifest",
        "2025-12 delete": "deleted 2 archive rows, all in the verified file",
    }
    assert ("monitoring.services.maintenance", logging.INFO,
            "export_archive_months [2025-12 delete] deleted 2 archive rows, all in the verified file") in caplog.record_tuples
    assert not set(december) & set(ids(ARCHIVE))


def test_a_manifest_whose_counts_disagree_with_its_file_is_caught_even_when_the_checksum_matches(archived, tmp_path):
    maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=False, now=NOW)
    sha256 = hashlib.sha256(_september_file(tmp_path).read_bytes()).hexdigest()
    # Never verified, and its count is not the file's: the file has to be read, not only hashed.
    ArchiveExport.objects.filter(month=SEPTEMBER).update(row_count=4, verified_at=None, status=ArchiveExportStatus.WRITTEN)

    result = maintenance.export_archive_months(archive_dir=tmp_path, delete_after_export=True, now=NOW)

    problem = (f"2026-09: lead_sync_history_2026-09.jsonl.gz does not match its manifest (file has 3 rows, "
               f"sha256 {sha256[:12]}…; manifest says 4, {sha256[:12]}…); nothing deleted")
    assert result.problems == [problem]
    assert result.steps["2026-09 verify"] == f"PROBLEM: {problem}"
    assert ArchiveExport.objects.get(month=SEPTEMBER).status == ArchiveExportStatus.CORRUPT
    assert set(archived["sept"]) <= set(ids(ARCHIVE))
