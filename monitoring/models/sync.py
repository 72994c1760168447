"""The three tables the n8n sync writes. Names are the spec's, column for column."""
from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.functions import RandomUUID
from django.core.validators import EmailValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import MD5, Now

from monitoring.choices import (
    HistoryDirection,
    HistoryStatus,
    LeadSyncDirection,
    LeadSyncStatus,
    RepairAction,
    SyncType,
)


def _in(field: str, choices: type[models.TextChoices]) -> Q:
    return Q(**{f"{field}__in": choices.values})


class CustomerSegment(models.Model):
    """A customer segment leads are classified into."""

    id = models.UUIDField(primary_key=True, db_default=RandomUUID(), editable=False)
    # Unbounded, as the sync writes it; unique through md5(segment_name) (a btree holds ~2.7 KB at most).
    segment_name = models.CharField("segment", max_length=None)
    # db_default: the sync inserts segments without Django and may leave the description out.
    description = models.TextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        db_table = "customer_segments"
        ordering = ["segment_name"]
        constraints = [models.UniqueConstraint(MD5("segment_name"), name="customer_segments_segment_name_md5_key")]

    def __str__(self) -> str:
        return self.segment_name


class Lead(models.Model):
    """A lead as held in Supabase, with the state of its sync with Twenty CRM."""

    id = models.UUIDField(primary_key=True, db_default=RandomUUID(), editable=False)
    twenty_id = models.CharField(
        "Twenty id", max_length=64, unique=True, null=True, blank=True, help_text="The lead's id in Twenty CRM."
    )
    # Free text copied from Twenty: no length limit, so the sync never loses a write to one
    # (migration 0201). twenty_id and lead_source stay bounded: an id and a pick-list value.
    first_name = models.CharField(max_length=None, blank=True, null=True)
    last_name = models.CharField(max_length=None, blank=True, null=True)
    # A CharField: EmailField cannot say "no limit" (its migration state falls back to 254).
    email = models.CharField(max_length=None, blank=True, null=True, validators=[EmailValidator()])
    phone = models.CharField(max_length=None, blank=True, null=True)
    company_name = models.CharField("company", max_length=None, blank=True, null=True)
    job_title = models.CharField(max_length=None, blank=True, null=True)
    lead_source = models.CharField("source", max_length=50, blank=True, null=True)
    lead_score = models.IntegerField(
        "score", null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(100)], help_text="0-100."
    )
    segment = models.ForeignKey(
        CustomerSegment, on_delete=models.SET_NULL, null=True, blank=True, db_column="segment_id", related_name="leads"
    )
    inferred_segment = models.CharField(max_length=None, blank=True, null=True)
    segment_confidence = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="0-1: how sure the classifier is of the segment.",
    )
    sync_status = models.CharField(
        "status", max_length=20, choices=LeadSyncStatus.choices, default=LeadSyncStatus.PENDING,
        db_default=LeadSyncStatus.PENDING,
    )
    sync_direction = models.CharField(
        "direction", max_length=30, choices=LeadSyncDirection.choices, default=LeadSyncDirection.BIDIRECTIONAL,
        db_default=LeadSyncDirection.BIDIRECTIONAL,
    )
    last_synced_at = models.DateTimeField("last synced", null=True, blank=True)
    sync_started_at = models.DateTimeField(
        "sync started",
        null=True,
        blank=True,
        editable=False,
        help_text="Set by a database trigger when the lead enters 'syncing'; what 'stuck' is measured from.",
    )
    sync_error_count = models.IntegerField("errors", default=0, db_default=0)
    sync_error_message = models.TextField("last error", blank=True, null=True)
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    updated_at = models.DateTimeField(
        db_default=Now(), editable=False, help_text="Bumped by a database trigger on every UPDATE."
    )

    class Meta:
        db_table = "leads"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=_in("sync_status", LeadSyncStatus), name="leads_sync_status_valid"),
            models.CheckConstraint(
                condition=_in("sync_direction", LeadSyncDirection), name="leads_sync_direction_valid"
            ),
            models.CheckConstraint(condition=Q(sync_error_count__gte=0), name="leads_sync_error_count_non_negative"),
            models.CheckConstraint(
                condition=Q(lead_score__isnull=True) | Q(lead_score__gte=0, lead_score__lte=100),
                name="leads_lead_score_range",
            ),
            models.CheckConstraint(
                condition=Q(segment_confidence__isnull=True)
                | Q(segment_confidence__gte=0, segment_confidence__lte=1),
                name="leads_segment_confidence_range",
            ),
        ]
        # Indexes live in migrations as SQL, each with a comment naming its reader.

    def __str__(self) -> str:
        return self.full_name or self.email or str(self.id)

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


class LeadSyncHistory(models.Model):
    """One sync attempt of one lead, in one direction."""

    id = models.BigAutoField(primary_key=True)
    # Indexed by idx_sync_history_lead_synced (lead_id, synced_at DESC) in migration 0002 instead.
    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, db_column="lead_id", related_name="history", db_index=False
    )
    sync_type = models.CharField(max_length=30, choices=SyncType.choices)
    sync_direction = models.CharField("direction", max_length=30, choices=HistoryDirection.choices)
    sync_status = models.CharField("status", max_length=20, choices=HistoryStatus.choices)
    fields_changed = models.JSONField(null=True, blank=True)
    error_message = models.TextField(blank=True, null=True)
    created_at = models.DateTimeField("started", db_default=Now(), help_text="When the attempt started.")
    synced_at = models.DateTimeField("finished", db_default=Now(), help_text="When the attempt finished.")

    class Meta:
        db_table = "lead_sync_history"
        ordering = ["-synced_at"]
        verbose_name = "sync attempt"
        verbose_name_plural = "sync history"
        constraints = [
            models.CheckConstraint(condition=_in("sync_type", SyncType), name="lead_sync_history_sync_type_valid"),
            models.CheckConstraint(
                condition=_in("sync_direction", HistoryDirection), name="lead_sync_history_sync_direction_valid"
            ),
            models.CheckConstraint(
                condition=_in("sync_status", HistoryStatus), name="lead_sync_history_sync_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sync_type} {self.sync_direction} {self.sync_status} @ {self.synced_at:%Y-%m-%d %H:%M}"


class LeadRepair(models.Model):
    """One operator repair of one lead (retry, reset stuck, clear errors, resolve conflict): not a sync attempt.

    Kept out of lead_sync_history on purpose: every number the portal shows counts rows of that
    table as attempts, and a repair is not one (see monitoring.services.leads).
    """

    id = models.BigAutoField(primary_key=True)
    # No database constraint: the audit trail outlives a deleted lead, and a 10,000-lead repair
    # needs no foreign-key check per row. Indexed with created_at by idx_lead_repairs_lead_created.
    lead = models.ForeignKey(
        Lead, on_delete=models.DO_NOTHING, db_constraint=False, db_column="lead_id", related_name="repairs",
        db_index=False,
    )
    action = models.CharField(max_length=30, choices=RepairAction.choices)
    reason = models.TextField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, db_column="user_id",
        related_name="+", help_text="Empty once the user is deleted; the username stays.",
    )
    username = models.CharField(max_length=150, help_text="Who ran the repair, as named at the time.")
    old_values = models.JSONField("old values", default=dict, help_text="The columns the repair changed, before.")
    new_values = models.JSONField("new values", default=dict, help_text="The same columns, after.")
    options = models.JSONField(default=dict, blank=True, help_text="How the repair was asked for (winner, quarantine).")
    created_at = models.DateTimeField("repaired at", db_default=Now())

    class Meta:
        db_table = "lead_repairs"
        ordering = ["-created_at", "-id"]
        verbose_name = "lead repair"
        constraints = [
            models.CheckConstraint(condition=_in("action", RepairAction), name="lead_repairs_action_valid"),
        ]
        # Indexes live in migration 0210 as SQL, each with a comment naming its reader.

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.username} @ {self.created_at:%Y-%m-%d %H:%M}"
