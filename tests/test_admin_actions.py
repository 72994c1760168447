"""Lead repair actions through the admin: confirmation page, reason, counts, guardrails, audit trail."""
from __future__ import annotations

from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.choices import HistoryDirection, LeadSyncStatus
from monitoring.models import Lead, LeadRepair, LeadSyncHistory
from tests.admin_helpers import LEAD_CHANGELIST, action_page, confirm_action, messages_of


def _statuses() -> dict:
    return dict(Lead.objects.values_list("first_name", "sync_status"))


def test_retry_confirmation_page_shows_counts_and_lists_quarantined_leads(operator_client, sync_dataset):
    d = sync_dataset
    response = action_page(operator_client, "retry_sync", [d.alan, d.katherine, d.edsger])
    assert response.status_code == 200
    page = response.content.decode()
    assert "3 leads selected" in page
    assert '<strong id="will-touch">1 will be changed</strong>' in page  # katherine; alan quarantined, edsger syncing
    assert "Quarantined: 1 lead with more than 5 sync errors" in page
    assert page.count('class="quarantined-lead"') == 1 and "Alan Turing" in page
    assert 'name="include_quarantined"' in page
    assert _statuses()["Katherine"] == LeadSyncStatus.ERROR  # nothing happens before the confirmation


def test_retry_without_reason_is_refused_with_400_and_changes_nothing(operator_client, sync_dataset):
    response = confirm_action(operator_client, "retry_sync", [sync_dataset.katherine], reason="  ")
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert _statuses()["Katherine"] == LeadSyncStatus.ERROR
    assert not LeadRepair.objects.exists()
    assert not LogEntry.objects.exists()


def test_retry_confirmed_changes_eligible_leads_and_records_reason_and_user(operator_client, operator, sync_dataset):
    d = sync_dataset
    before = _statuses()
    response = confirm_action(operator_client, "retry_sync", [d.alan, d.katherine, d.edsger], reason="Twenty back up")
    assert response.status_code == 302
    assert messages_of(response) == [
        "Retry sync: 1 lead changed, 2 skipped, of 3 selected. "
        "Each change is recorded in the lead's timeline and its admin history."
    ]
    after = _statuses()
    assert after == {**before, "Katherine": LeadSyncStatus.PENDING}
    repair = LeadRepair.objects.get()
    assert repair.lead_id == d.katherine.pk
    assert (repair.reason, repair.username, repair.user_id) == ("Twenty back up", "operator", operator.pk)
    assert not LeadSyncHistory.objects.filter(lead=d.katherine, sync_status="synced").exists()  # not an attempt
    log = LogEntry.objects.get()
    assert (log.user_id, log.object_id, log.change_message) == (
        operator.pk, str(d.katherine.pk),
        "Retry sync: Twenty back up (status: error → pending; last error: Twenty API 500: internal error → —)",
    )


def test_retrying_quarantined_leads_needs_the_extra_checkbox(operator_client, sync_dataset):
    alan = sync_dataset.alan
    confirm_action(operator_client, "retry_sync", [alan], reason="try again")
    assert Lead.objects.get(pk=alan.pk).sync_status == LeadSyncStatus.ERROR

    response = confirm_action(operator_client, "retry_sync", [alan], reason="key rotated", include_quarantined="on")
    assert response.status_code == 302
    assert "1 lead changed, 0 skipped" in messages_of(response)[-1]
    assert Lead.objects.get(pk=alan.pk).sync_status == LeadSyncStatus.PENDING
    assert LeadRepair.objects.get().options == {"include_quarantined": True}


def test_reset_stuck_across_all_matching_a_filter_skips_the_rest(operator_client, sync_dataset):
    d = sync_dataset
    # "Select all 8 leads" on an unfiltered list: only edsger (syncing 25 min) is reset.
    page = action_page(operator_client, "reset_stuck", [d.ada], select_across=True)
    assert "8 leads selected" in page.content.decode()
    assert '<strong id="will-touch">1 will be changed</strong>' in page.content.decode()
    response = confirm_action(operator_client, "reset_stuck", [d.ada], select_across=True, reason="worker died")
    assert "Reset stuck: 1 lead changed, 7 skipped, of 8 selected." in messages_of(response)[0]
    assert Lead.objects.get(pk=d.edsger.pk).sync_status == LeadSyncStatus.PENDING
    assert list(LogEntry.objects.values_list("object_id", flat=True)) == [str(d.edsger.pk)]


def test_select_across_respects_the_changelist_filter(operator_client, sync_dataset):
    d = sync_dataset
    query = "?sync_status__exact=error"
    response = confirm_action(
        operator_client, "clear_error_count", [d.alan], query=query, select_across=True, reason="reset counters"
    )
    assert "Clear error count: 2 leads changed, 0 skipped, of 2 selected." in messages_of(response)[0]
    assert dict(Lead.objects.filter(sync_error_count__gt=0).values_list("first_name", "sync_error_count")) == {}
    assert set(LeadRepair.objects.values_list("lead_id", flat=True)) == {
        d.alan.pk, d.katherine.pk
    }


def test_resolve_conflict_needs_a_winner_and_applies_it(operator_client, sync_dataset):
    d = sync_dataset
    response = confirm_action(operator_client, "resolve_conflict", [d.donald, d.ada], reason="checked in Twenty")
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert Lead.objects.get(pk=d.donald.pk).sync_status == LeadSyncStatus.CONFLICT

    response = confirm_action(
        operator_client, "resolve_conflict", [d.donald, d.ada], reason="checked in Twenty",
        winner=HistoryDirection.TWENTY_TO_SUPABASE,
    )
    assert "Resolve conflict: 1 lead changed, 1 skipped, of 2 selected." in messages_of(response)[0]
    donald = Lead.objects.get(pk=d.donald.pk)
    assert (donald.sync_status, donald.sync_direction) == (LeadSyncStatus.PENDING, HistoryDirection.TWENTY_TO_SUPABASE)
    assert Lead.objects.get(pk=d.ada.pk).sync_status == LeadSyncStatus.SYNCED


def test_batch_cap_refuses_with_a_clear_message(operator_client, sync_dataset, settings):
    settings.ADMIN_ACTION_BATCH_CAP = 5
    before = _statuses()
    for step in (action_page, confirm_action):
        kwargs = {"reason": "all"} if step is confirm_action else {}
        response = step(operator_client, "retry_sync", [sync_dataset.ada], select_across=True, **kwargs)
        assert response.status_code == 302
        assert messages_of(response)[-1:] == [
            "More than 5 leads are selected; repairs are capped at 5 leads per batch. "
            "Narrow the selection with the filters and run the action again."
        ]
    assert _statuses() == before
    assert not LeadRepair.objects.exists()


def test_confirmed_action_counts_the_selection_once(operator_client, sync_dataset):
    with CaptureQueriesContext(connection) as queries:
        response = confirm_action(operator_client, "clear_error_count", [sync_dataset.alan], select_across=True,
                                  reason="once")
    assert response.status_code == 302
    cap_checks = [q["sql"] for q in queries.captured_queries if "LIMIT 10001" in q["sql"]]
    assert len(cap_checks) == 1, cap_checks  # the service's own check, in the repair's transaction


def test_changelist_filters_find_stuck_stale_quarantined_and_in_twenty(viewer_client, sync_dataset):
    def names(query: str) -> set[str]:
        response = viewer_client.get(LEAD_CHANGELIST + query)
        assert response.status_code == 200
        return {lead.first_name for lead in response.context["cl"].result_list}

    assert names("?stuck=yes") == {"Edsger"}
    assert names("?stale=yes") == {"Barbara"}
    assert names("?errors=quarantined") == {"Alan"}
    assert names("?errors=low") == {"Katherine"}
    assert names("?errors=0") == {"Ada", "Grace", "Linus", "Barbara", "Edsger", "Donald"}
    assert names("?in_twenty=yes") == {"Ada", "Grace", "Edsger", "Donald"}
    assert names("?in_twenty=no") == {"Alan", "Katherine", "Linus", "Barbara"}
    assert names("?source=referral") == {"Grace", "Barbara", "Donald"}
    assert names(f"?segment__id__exact={sync_dataset.smb.pk}") == {"Grace", "Linus", "Donald"}
    assert names("?sync_direction__exact=twenty_to_supabase") == {"Alan", "Edsger"}
    assert names("?q=tw-grace") == {"Grace"}
    assert names("?q=bletchley") == {"Alan"}


def test_changelist_query_budget_and_status_colours(viewer_client, sync_dataset, django_assert_max_num_queries):
    # 10 fixed queries + one index probe per date-hierarchy bucket shown (the dataset spans <= 6 days) + 1
    with django_assert_max_num_queries(17):
        response = viewer_client.get(LEAD_CHANGELIST)
    page = response.content.decode()
    assert 'class="lead-status lead-status-error"' in page
    assert "linkedin" in page and "referral" in page  # source filter choices


def test_date_hierarchy_buckets_match_djangos_distinct_query(sync_dataset):
    from datetime import timedelta

    from monitoring.admin.leads import DateBucketsQuerySet

    Lead.objects.create(first_name="Old", created_at=sync_dataset.now - timedelta(days=400))
    Lead.objects.create(first_name="Older", created_at=sync_dataset.now - timedelta(days=800))
    bucketed = DateBucketsQuerySet(model=Lead)
    for kind in ("year", "month", "day"):
        assert bucketed.datetimes("created_at", kind) == list(Lead.objects.datetimes("created_at", kind)), kind
        filtered = bucketed.filter(sync_status=LeadSyncStatus.PENDING)
        expected = list(Lead.objects.filter(sync_status=LeadSyncStatus.PENDING).datetimes("created_at", kind, "DESC"))
        assert filtered.datetimes("created_at", kind, "DESC") == expected, kind


def test_changelist_date_hierarchy_drills_down_and_hides_on_search(viewer_client, sync_dataset):
    year = sync_dataset.now.year
    days = {lead.created_at.date() for lead in Lead.objects.all()}
    page = viewer_client.get(LEAD_CHANGELIST).content.decode()
    if len({(d.year, d.month) for d in days}) == 1:  # one month of data: the hierarchy opens on its days
        for day in days:
            assert f"created_at__day={day.day}&amp;created_at__month={day.month}&amp;created_at__year={day.year}" in page
    response = viewer_client.get(LEAD_CHANGELIST + f"?created_at__year={year}")
    assert len(response.context["cl"].result_list) == Lead.objects.filter(created_at__year=year).count()
    response = viewer_client.get(LEAD_CHANGELIST + "?q=ada")
    assert response.context["cl"].date_hierarchy is None


def test_search_matches_name_email_company_parts_and_exact_ids(viewer_client, sync_dataset):
    def names(term: str) -> set[str]:
        response = viewer_client.get(LEAD_CHANGELIST, {"q": term})
        assert response.status_code == 200
        return {lead.first_name for lead in response.context["cl"].result_list}

    assert names("LOVELACE") == {"Ada"}  # any case
    assert names("grace@exam") == {"Grace"}  # part of an e-mail
    assert names("engines") == {"Ada"}  # part of a company
    assert names("ada engines") == {"Ada"}  # every word must match
    assert names("ada navy") == set()
    assert names("RATE LIMIT") == {"Alan"}  # part of the last error message
    assert names("tw-edsger") == {"Edsger"}  # Twenty id, exact
    assert names("tw-eds") == set()
    assert names(str(sync_dataset.donald.pk)) == {"Donald"}  # lead id, exact
    assert names("100%_") == set()  # LIKE wildcards are escaped, not a 500


def test_search_uses_the_trigram_index(sync_dataset):
    from django.contrib import admin
    from django.db import connection

    queryset, _ = admin.site._registry[Lead].get_search_results(None, Lead.objects.order_by(), "lovelace")
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "idx_leads_search_trgm" in plan, plan


def test_big_lists_page_by_the_planner_estimate_small_ones_by_count(viewer_client, sync_dataset, monkeypatch):
    from django.db import connection

    from monitoring.admin.leads import EstimatedCountPaginator

    Lead.objects.bulk_create(Lead(first_name=f"Bulk {i}", lead_source="import") for i in range(300))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads")
    monkeypatch.setattr(EstimatedCountPaginator, "exact_below", 100)  # "big" = 100+ rows for this test
    with connection.cursor() as cursor:
        # Make the planner believe the table is 10x bigger than it is (rolled back with the test).
        cursor.execute("UPDATE pg_class SET reltuples = reltuples * 10 WHERE oid = 'leads'::regclass")

    unfiltered = viewer_client.get(LEAD_CHANGELIST).context["cl"].result_count
    assert unfiltered > 1000  # the estimate, no COUNT(*): the table has 308 rows
    small = viewer_client.get(LEAD_CHANGELIST + "?sync_status__exact=error").context["cl"].result_count
    assert small == 2  # exact


def test_select_across_a_search_and_date_drilldown_touches_only_the_matches(operator_client, sync_dataset):
    d = sync_dataset
    query = f"?q=example.com+alan&created_at__year={d.alan.created_at.year}"
    response = confirm_action(
        operator_client, "retry_sync", [d.alan], query=query, select_across=True, reason="search", include_quarantined="on"
    )
    assert "Retry sync: 1 lead changed, 0 skipped, of 1 selected." in messages_of(response)[-1]
    assert _statuses() == {
        "Ada": "synced", "Grace": "synced", "Alan": "pending", "Katherine": "error", "Linus": "pending",
        "Barbara": "pending", "Edsger": "syncing", "Donald": "conflict",
    }
