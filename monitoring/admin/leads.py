"""Operator admin for leads: find stuck or failing leads, repair them with a reason, audit every change.

Role rules (checked server-side by the has_*_permission methods and the actions' allowed_permissions):
viewers see every admin here read-only; operators also edit leads and run the repair actions
(`monitoring.change_lead`); customer segments are edited by superusers only; nobody adds or deletes
leads here (the sync owns them), and the history and the SQL views are read-only for everyone.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html

from monitoring.choices import HistoryDirection, LeadSyncStatus
from monitoring.models import (
    CustomerSegment,
    Lead,
    LeadAnalytics,
    LeadRepair,
    LeadSyncDailySummary,
    LeadSyncHealthDashboard,
    LeadSyncHistory,
    RealTimeSyncActivity,
    SyncMonitoring,
)
from monitoring.selectors.leads import lead_sources, lead_timeline, row_estimate
from monitoring.selectors.search import lead_text_contains
from monitoring.tables.portal import LABELS, render_changes, render_error, render_kind
from monitoring.services.leads import (
    CLEAR_ERRORS_ELIGIBLE,
    RESOLVE_ELIGIBLE,
    BatchTooLarge,
    RepairAction,
    RepairResult,
    batch_cap,
    check_batch_size,
    clear_error_counts,
    quarantine_threshold,
    quarantined_q,
    reset_stuck_leads,
    resolve_conflicts,
    retry_eligible_q,
    retry_leads,
    stale_pending_q,
    stuck_q,
)

RECENT_HISTORY_ROWS = 20
QUARANTINE_LIST_LIMIT = 50

STATUS_COLOURS = {
    LeadSyncStatus.SYNCED: "#1e7e34",
    LeadSyncStatus.PENDING: "#6c757d",
    LeadSyncStatus.SYNCING: "#0b5ed7",
    LeadSyncStatus.ERROR: "#c82333",
    LeadSyncStatus.CONFLICT: "#d97706",
}


class EstimatedCountPaginator(Paginator):
    """Exact counts for lists the planner expects to be small; its estimate for big ones.

    COUNT(*) over 1M leads / 10M history rows (or a filter matching most of them) costs more than
    the page itself; a list that big only needs a roughly right page count. Estimating is one
    EXPLAIN, which reads no rows.
    """

    exact_below = 100_000

    @cached_property
    def count(self) -> int:
        if isinstance(self.object_list, QuerySet):
            estimate = row_estimate(self.object_list)
            if estimate >= self.exact_below:
                return estimate
        return super().count


class DateBucketsQuerySet(QuerySet):
    """datetimes() by one index probe per bucket instead of SELECT DISTINCT date_trunc(...) over every row.

    The admin's date hierarchy calls datetimes() for its year/month/day links; on 1M leads the
    DISTINCT reads the whole created_at index (over a second). Probing "first row at or after the
    next bucket's start" costs one short walk of idx_leads_created_at per bucket shown.
    """

    max_buckets = 100

    def datetimes(self, field_name: str, kind: str, order: str = "ASC", tzinfo: Any = None, **kwargs: Any):
        if kind not in ("year", "month", "day") or kwargs:
            return super().datetimes(field_name, kind, order, tzinfo, **kwargs)
        tz = tzinfo or timezone.get_current_timezone()
        values = self.order_by(field_name).values_list(field_name, flat=True)
        buckets: list[datetime] = []
        start: datetime | None = None
        while len(buckets) < self.max_buckets:
            probe = values if start is None else values.filter(**{f"{field_name}__gte": _next_bucket(start, kind)})
            first = probe.first()
            if first is None:
                break
            local = first.astimezone(tz)
            start = local.replace(
                month=1 if kind == "year" else local.month,
                day=local.day if kind == "day" else 1,
                hour=0, minute=0, second=0, microsecond=0,
            )
            buckets.append(start)
        return buckets if order == "ASC" else buckets[::-1]


def _next_bucket(start: datetime, kind: str) -> datetime:
    if kind == "year":
        return start.replace(year=start.year + 1)
    if kind == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return (start + timedelta(days=1)).replace(hour=0)  # replace: wall-clock midnight across DST changes


class LeadChangeList(ChangeList):
    """No date hierarchy on search results: its range and bucket queries would each rescan the match."""

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        if self.query:
            self.date_hierarchy = None


# -- list filters ------------------------------------------------------------------------------


class InTwentyFilter(admin.SimpleListFilter):
    title = "in Twenty"
    parameter_name = "in_twenty"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Has a Twenty id"), ("no", "Not in Twenty yet")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(twenty_id__isnull=False)
        if self.value() == "no":
            return queryset.filter(twenty_id__isnull=True)
        return queryset


class ErrorCountBandFilter(admin.SimpleListFilter):
    """Bands around the retry quarantine threshold (RETRY_QUARANTINE_ERRORS)."""

    title = "error count"
    parameter_name = "errors"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        threshold = quarantine_threshold()
        return [
            ("0", "None"),
            ("low", f"1 to {threshold}"),
            ("quarantined", f"Over {threshold} (quarantined)"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        threshold = quarantine_threshold()
        if self.value() == "0":
            return queryset.filter(sync_error_count=0)
        if self.value() == "low":
            return queryset.filter(sync_error_count__gte=1, sync_error_count__lte=threshold)
        if self.value() == "quarantined":
            return queryset.filter(quarantined_q())
        return queryset


class YesFilter(admin.SimpleListFilter):
    """A one-choice filter: "yes" keeps the leads matching `condition()`."""

    label = ""

    @staticmethod
    def condition() -> Q:
        raise NotImplementedError

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", self.label)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(self.condition()) if self.value() == "yes" else queryset


class StuckSyncingFilter(YesFilter):
    title = "stuck in syncing"
    parameter_name = "stuck"
    label = "Syncing for more than 10 min"
    condition = staticmethod(stuck_q)


class StalePendingFilter(YesFilter):
    """Same rule as check_stale_leads(): pending and created more than an hour ago."""

    title = "stale pending"
    parameter_name = "stale"
    label = "Pending for more than 1 h"
    condition = staticmethod(stale_pending_q)


class LeadSourceFilter(admin.SimpleListFilter):
    """Choices from a loose index scan (selectors.leads.lead_sources), not SELECT DISTINCT over all leads."""

    title = "source"
    parameter_name = "source"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(source, source) for source in lead_sources()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(lead_source=self.value()) if self.value() else queryset


# -- lead edit form: validation and optimistic concurrency ---------------------------------------


class LeadAdminForm(forms.ModelForm):
    """Refuses a save when the row changed (sync or another operator) after the form was opened.

    The form carries the updated_at it was rendered with; the leads_touch trigger bumps updated_at
    on every UPDATE, so a different value means someone else wrote in between. The row is locked
    (SELECT ... FOR UPDATE, inside the admin's atomic changeform) so no write can slip in between
    this check and the save.
    """

    seen_updated_at = forms.CharField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Lead
        fields = "__all__"
        error_messages = {
            "twenty_id": {"unique": "Another lead already has this Twenty id."},
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.updated_at:
            self.fields["seen_updated_at"].initial = self.instance.updated_at.isoformat()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.instance.pk is None:
            return cleaned
        try:
            seen = datetime.fromisoformat(cleaned.get("seen_updated_at") or "")
        except ValueError:
            raise ValidationError("This form has no valid version stamp; reload the lead and edit it again.")
        current = Lead.objects.select_for_update(of=("self",)).select_related("segment").get(pk=self.instance.pk)
        if current.updated_at != seen:
            raise ValidationError(
                "Not saved: this lead was changed at %(when)s (by the sync or another user) after you opened it. "
                "Newer values: %(values)s. Reload the page to edit the current version.",
                code="stale",
                params={"when": current.updated_at.isoformat(), "values": self._newer_values(current, cleaned)},
            )
        return cleaned

    def _newer_values(self, current: Lead, cleaned: dict[str, Any]) -> str:
        """The stored values that differ from what the form would save (all shown fields if none differ)."""
        shown = [name for name in self.fields if name != "seen_updated_at"]
        differing = [name for name in shown if name in cleaned and getattr(current, name) != cleaned[name]]
        names = differing or shown
        return "; ".join(f"{Lead._meta.get_field(name).verbose_name}: {getattr(current, name)}" for name in names)


# -- the recent timeline panel and the read-only mixin -------------------------------------------


class ReadOnlyAdminMixin:
    """No add, change or delete for anyone (the sync and the database own these rows)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def recent_timeline_html(lead: Lead) -> str:
    """The lead's newest RECENT_HISTORY_ROWS timeline rows (attempts and repairs interleaved), as HTML.

    One query: the UNION of two index walks (selectors.leads.lead_timeline) with LIMIT. The cells
    come from the portal timeline's renderers, so both read the same ("field: old → new", folds).
    """
    rows = [
        {
            **row,
            "kind_html": render_kind(row),
            "changes_html": render_changes(row),
            "error_html": render_error(row.get("error")),
            "direction_label": HistoryDirection(row["direction"]).label if row.get("direction") else "",
            "status_label": LABELS.get(row["status"], row["status"]) if row.get("status") else "",
        }
        for row in lead_timeline(lead_id=lead.pk)[:RECENT_HISTORY_ROWS]
    ]
    return render_to_string("admin/monitoring/lead/recent_timeline.html", {"rows": rows, "limit": RECENT_HISTORY_ROWS})


# -- repair actions: reason + count + confirmation ---------------------------------------------


class RepairForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        help_text="Why: recorded with each lead's repair (its timeline) and in its admin history.",
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise ValidationError("A reason is required.")
        return reason


class RetryForm(RepairForm):
    include_quarantined = forms.BooleanField(
        required=False, label="Also retry the quarantined leads listed above (over the error threshold)"
    )


class ResolveConflictForm(RepairForm):
    winner = forms.ChoiceField(
        choices=HistoryDirection.choices,
        widget=forms.RadioSelect,
        label="Winning side",
        help_text="The direction the sync will push the lead in next.",
    )


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    form = LeadAdminForm

    class Media:
        css = {"all": ("monitoring/admin-timeline.css",)}
    list_display = (
        "name",
        "email",
        "company_name",
        "status",
        "sync_direction",
        "lead_source",
        "segment",
        "sync_error_count",
        "last_synced_at",
        "updated_at",
    )
    list_display_links = ("name", "email")
    list_filter = (
        "sync_status",
        "sync_direction",
        LeadSourceFilter,
        "segment",
        InTwentyFilter,
        ErrorCountBandFilter,
        StuckSyncingFilter,
        StalePendingFilter,
    )
    # Searching is get_search_results below (a trigram-indexed expression); search_fields only turns the box on.
    search_fields = ("first_name", "last_name", "email", "company_name", "twenty_id")
    search_help_text = "Every word: name, e-mail, company or last error (contains, any case); Twenty id or lead id (exact)."
    date_hierarchy = "created_at"
    list_select_related = ("segment",)
    list_per_page = 100
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    actions = ("retry_sync", "reset_stuck", "clear_error_count", "resolve_conflict")
    # Sync state changes go through the actions, which ask for a reason and record a repair.
    readonly_fields = (
        "id",
        "sync_status",
        "sync_direction",
        "sync_error_count",
        "sync_error_message",
        "last_synced_at",
        "sync_started_at",
        "created_at",
        "updated_at",
        "timeline",
        "recent_timeline",
    )
    fieldsets = (
        (None, {"fields": ("id", "timeline", "first_name", "last_name", "email", "phone", "company_name", "job_title")}),
        (
            "Classification",
            {"fields": ("lead_source", "lead_score", "segment", "inferred_segment", "segment_confidence")},
        ),
        (
            "Sync",
            {
                "fields": (
                    "twenty_id",
                    "sync_status",
                    "sync_direction",
                    "sync_error_count",
                    "sync_error_message",
                    "last_synced_at",
                    "sync_started_at",
                    "created_at",
                    "updated_at",
                    "seen_updated_at",
                ),
                "description": "Status, direction and errors change through the list's actions (with a reason).",
            },
        ),
        (f"Timeline: the last {RECENT_HISTORY_ROWS} sync attempts and repairs", {"fields": ("recent_timeline",)}),
    )

    # -- columns --

    @admin.display(description="name", ordering="last_name")
    def name(self, lead: Lead) -> str:
        return lead.full_name or "—"

    @admin.display(description="status", ordering="sync_status")
    def status(self, lead: Lead) -> str:
        return format_html(
            '<span class="lead-status lead-status-{}" style="color:{};font-weight:bold">{}</span>',
            lead.sync_status,
            STATUS_COLOURS.get(lead.sync_status, "inherit"),
            lead.get_sync_status_display(),
        )

    @admin.display(description="timeline")
    def timeline(self, lead: Lead) -> str:
        history_url = reverse("admin:monitoring_leadsynchistory_changelist") + f"?lead__id__exact={lead.pk}"
        try:
            # The portal's lead timeline page (monitoring:lead-detail) is built in another issue.
            timeline_url = reverse("monitoring:lead-detail", args=[lead.pk])
        except NoReverseMatch:
            return format_html('<a href="{}">All sync attempts</a>', history_url)
        return format_html('<a href="{}">Lead timeline</a> · <a href="{}">All sync attempts</a>', timeline_url, history_url)

    @admin.display(description="newest first")
    def recent_timeline(self, lead: Lead) -> str:
        return recent_timeline_html(lead)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Lead]:
        queryset = super().get_queryset(request)
        return DateBucketsQuerySet(model=queryset.model, query=queryset.query.chain(), using=queryset.db)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Lead], search_term: str
    ) -> tuple[QuerySet[Lead], bool]:
        """Every word must match: name, e-mail, company or last error contain it, or it is the Twenty id or lead id.

        The contains test is the portal's own (selectors.search.lead_text_contains), served by the
        trigram index idx_leads_search_trgm (migration 0021), so a search at 1M leads is an index
        lookup rather than a scan.
        """
        for word in search_term.split():
            match = Q(lead_text_contains(word)) | Q(twenty_id=word)
            try:
                match |= Q(pk=uuid.UUID(word))
            except ValueError:
                pass
            queryset = queryset.filter(match)
        return queryset, False

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return LeadChangeList

    # -- permissions --

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # leads come from the sync

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deleting would also delete the lead's history (on_delete=CASCADE)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[tuple[str | None, dict[str, Any]]]:
        fieldsets = super().get_fieldsets(request, obj)
        if not self.has_change_permission(request, obj):
            # View-only users get no form, so the hidden version stamp has nothing to render.
            return [(name, {**opts, "fields": tuple(f for f in opts["fields"] if f != "seen_updated_at")})
                    for name, opts in fieldsets]
        return fieldsets

    # -- actions --

    @admin.action(description="Retry sync (back to pending, error message cleared)", permissions=["change"])
    def retry_sync(self, request: HttpRequest, queryset: QuerySet[Lead]) -> HttpResponse | None:
        return self._repair_view(request, queryset, action=RepairAction.RETRY, form_class=RetryForm)

    @admin.action(description="Reset stuck (syncing > 10 min back to pending)", permissions=["change"])
    def reset_stuck(self, request: HttpRequest, queryset: QuerySet[Lead]) -> HttpResponse | None:
        return self._repair_view(request, queryset, action=RepairAction.RESET_STUCK, form_class=RepairForm)

    @admin.action(description="Clear error count", permissions=["change"])
    def clear_error_count(self, request: HttpRequest, queryset: QuerySet[Lead]) -> HttpResponse | None:
        return self._repair_view(request, queryset, action=RepairAction.CLEAR_ERRORS, form_class=RepairForm)

    @admin.action(description="Resolve conflict (pick the winning side)", permissions=["change"])
    def resolve_conflict(self, request: HttpRequest, queryset: QuerySet[Lead]) -> HttpResponse | None:
        return self._repair_view(request, queryset, action=RepairAction.RESOLVE_CONFLICT, form_class=ResolveConflictForm)

    def _repair_view(
        self, request: HttpRequest, queryset: QuerySet[Lead], *, action: str, form_class: type[RepairForm]
    ) -> HttpResponse | None:
        """First POST: the confirmation page (reason, counts). Second POST with `confirm`: run the repair."""
        status = 200
        form = form_class(request.POST if "confirm" in request.POST else None)
        if "confirm" in request.POST:
            if form.is_valid():
                try:
                    # The service checks the batch cap itself, in the repair's transaction.
                    result = self._run_repair(request, queryset, action=action, data=form.cleaned_data)
                except BatchTooLarge as exc:
                    self.message_user(request, str(exc), messages.ERROR)
                    return None
                self.message_user(request, self._result_message(result), messages.SUCCESS)
                return None
            status = 400
        try:
            selected = check_batch_size(queryset)
        except BatchTooLarge as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return None
        include_quarantined = bool(form.is_bound and form.is_valid() and form.cleaned_data.get("include_quarantined"))
        eligible = self._eligible_q(action, include_quarantined=include_quarantined)
        will_touch = queryset.filter(eligible).count() if eligible is not None else selected
        context = {
            **self.admin_site.each_context(request),
            "title": f"{RepairAction(action).label}: confirm",
            "opts": self.model._meta,
            "action_name": action,
            "action_label": RepairAction(action).label,
            "form": form,
            "selected": selected,
            "will_touch": will_touch,
            "skipped": selected - will_touch,
            "skip_rule": self._skip_rule(action),
            "batch_cap": batch_cap(),
            "threshold": quarantine_threshold(),
            "selected_ids": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        if action == RepairAction.RETRY:
            quarantined = queryset.filter(quarantined_q(), ~Q(sync_status=LeadSyncStatus.SYNCING))
            context["quarantined_count"] = quarantined.count()
            context["quarantined"] = list(
                quarantined.select_related(None).order_by("-sync_error_count", "pk").only(
                    "id", "first_name", "last_name", "email", "sync_status", "sync_error_count", "sync_error_message"
                )[:QUARANTINE_LIST_LIMIT]
            )
            context["quarantine_list_limit"] = QUARANTINE_LIST_LIMIT
        return TemplateResponse(request, "admin/monitoring/lead/repair_confirmation.html", context, status=status)

    def _run_repair(self, request: HttpRequest, queryset: QuerySet[Lead], *, action: str, data: dict[str, Any]) -> RepairResult:
        common = {"leads": queryset, "user": request.user, "reason": data["reason"]}
        if action == RepairAction.RETRY:
            return retry_leads(**common, include_quarantined=data.get("include_quarantined", False))
        if action == RepairAction.RESET_STUCK:
            return reset_stuck_leads(**common)
        if action == RepairAction.CLEAR_ERRORS:
            return clear_error_counts(**common)
        return resolve_conflicts(**common, winner=data["winner"])

    @staticmethod
    def _eligible_q(action: str, *, include_quarantined: bool) -> Q | None:
        if action == RepairAction.RETRY:
            return retry_eligible_q(include_quarantined=include_quarantined)
        if action == RepairAction.RESET_STUCK:
            return stuck_q()
        if action == RepairAction.CLEAR_ERRORS:
            return CLEAR_ERRORS_ELIGIBLE
        return RESOLVE_ELIGIBLE

    @staticmethod
    def _skip_rule(action: str) -> str:
        return {
            RepairAction.RETRY: "leads in 'syncing' (use Reset stuck) and quarantined leads unless you tick the box",
            RepairAction.RESET_STUCK: "leads not in 'syncing' for more than 10 minutes",
            RepairAction.CLEAR_ERRORS: "leads whose error count is already 0",
            RepairAction.RESOLVE_CONFLICT: "leads not in 'conflict'",
        }[action]

    @staticmethod
    def _result_message(result: RepairResult) -> str:
        label = RepairAction(result.action).label
        return (
            f"{label}: {result.updated} lead{'s' if result.updated != 1 else ''} changed, "
            f"{result.skipped} skipped, of {result.selected} selected. "
            "Each change is recorded in the lead's timeline and its admin history."
        )


# -- read-only admins: history, SQL views, materialized view ------------------------------------


class ViewListOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """SQL views: the list is the whole story; no per-row page (some views have no unique key)."""

    list_display_links = None
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = None

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        return [path("", self.admin_site.admin_view(self.changelist_view), name="%s_%s_changelist" % info)]


class SyncedWithinFilter(admin.SimpleListFilter):
    """Time windows that follow idx_sync_history_monitoring (a date hierarchy would scan 10M rows for its years)."""

    title = "finished"
    parameter_name = "within"
    windows = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("1h", "Last hour"), ("24h", "Last 24 hours"), ("7d", "Last 7 days"), ("30d", "Last 30 days")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        window = self.windows.get(self.value() or "")
        return queryset.filter(synced_at__gte=timezone.now() - window) if window else queryset


class GrowingLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """A read-only log that grows with the sync (history, repairs): no counts, facets or actions at 10M rows."""

    list_per_page = 100
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    actions = None


@admin.register(LeadSyncHistory)
class LeadSyncHistoryAdmin(GrowingLogAdmin):
    list_display = ("synced_at", "lead", "sync_type", "sync_direction", "sync_status", "error_message", "created_at")
    list_filter = (SyncedWithinFilter, "sync_status", "sync_type", "sync_direction")
    search_fields = ("=lead__id", "=lead__twenty_id", "^lead__email", "error_message")
    search_help_text = "Lead id or Twenty id (exact), lead e-mail (starts with), error message (contains)."
    list_select_related = ("lead",)
    ordering = ("-synced_at", "-id")
    fields = ("lead", "sync_type", "sync_direction", "sync_status", "fields_changed", "error_message", "created_at", "synced_at")


@admin.register(LeadRepair)
class LeadRepairAdmin(GrowingLogAdmin):
    """Every operator repair, newest first (idx_lead_repairs_created); not sync attempts."""

    list_display = ("created_at", "lead_link", "action", "username", "reason")
    list_filter = ("action",)
    search_fields = ("=lead__id", "=username")
    search_help_text = "Lead id or username (exact)."
    ordering = ("-created_at", "-id")
    fields = ("lead_link", "action", "reason", "username", "user", "old_values", "new_values", "options", "created_at")
    readonly_fields = ("lead_link",)

    @admin.display(description="lead")
    def lead_link(self, repair: LeadRepair) -> str:
        # By id: the repair outlives a deleted lead (no foreign-key constraint), so no join.
        url = reverse("admin:monitoring_lead_change", args=[repair.lead_id])
        return format_html('<a href="{}">{}</a>', url, repair.lead_id)


@admin.register(CustomerSegment)
class CustomerSegmentAdmin(admin.ModelAdmin):
    """Editable by superusers only; viewers and operators may look."""

    list_display = ("segment_name", "description", "created_at")
    search_fields = ("segment_name", "description")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser


@admin.register(LeadSyncHealthDashboard)
class LeadSyncHealthDashboardAdmin(ViewListOnlyAdmin):
    list_display = (
        "overall_health", "total_leads", "synced_leads", "pending_leads", "error_leads", "syncing_leads",
        "conflict_leads", "stuck_leads", "stale_pending_leads", "never_synced_leads", "recently_synced",
        "sync_success_rate", "error_rate", "median_sync_time_seconds", "leads_with_errors", "total_errors",
        "last_error_time",
    )


@admin.register(RealTimeSyncActivity)
class RealTimeSyncActivityAdmin(ViewListOnlyAdmin):
    list_display = ("synced_at", "lead_name", "email", "company_name", "segment_name", "sync_type", "sync_direction", "sync_status")
    list_filter = ("sync_status", "sync_type", "sync_direction", "segment_name")
    search_fields = ("lead_name", "email", "company_name")


@admin.register(SyncMonitoring)
class SyncMonitoringAdmin(ViewListOnlyAdmin):
    list_display = ("sync_status", "count", "percentage", "last_sync_time", "avg_errors")
    list_filter = ("sync_status",)


@admin.register(LeadAnalytics)
class LeadAnalyticsAdmin(ViewListOnlyAdmin):
    list_display = ("date", "total_leads", "synced_to_twenty", "synced_leads", "error_leads", "pending_leads", "avg_score")
    list_filter = (("date", admin.DateFieldListFilter),)


@admin.register(LeadSyncDailySummary)
class LeadSyncDailySummaryAdmin(ViewListOnlyAdmin):
    list_display = ("sync_date", "sync_direction", "sync_status", "sync_count", "unique_leads")
    list_filter = (("sync_date", admin.DateFieldListFilter), "sync_direction", "sync_status")
