"""Who may open which admin page and run which action: anonymous, non-staff, viewer, operator, superuser."""
from __future__ import annotations

import pytest
from django.urls import reverse

from monitoring.choices import LeadSyncStatus
from monitoring.models import CustomerSegment, Lead, LeadRepair, LeadSyncHistory
from tests.admin_helpers import action_page, confirm_action

PERSONAS = ["anonymous", "non_staff", "viewer", "operator", "superuser"]
LOGIN = "login"  # redirected to the admin login page
OK, FORBIDDEN, NOT_FOUND = 200, 403, 404

VIEW_MODELS = ["leadsynchealthdashboard", "realtimesyncactivity", "syncmonitoring", "leadanalytics", "leadsyncdailysummary"]

# page -> expected outcome for (anonymous, non_staff, viewer, operator, superuser)
PAGES = {
    "lead_changelist": (LOGIN, LOGIN, OK, OK, OK),
    "lead_change": (LOGIN, LOGIN, OK, OK, OK),
    "lead_add": (LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    "lead_delete": (LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    "leadsynchistory_changelist": (LOGIN, LOGIN, OK, OK, OK),
    "leadsynchistory_change": (LOGIN, LOGIN, OK, OK, OK),
    "leadsynchistory_add": (LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    "leadsynchistory_delete": (LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    "customersegment_changelist": (LOGIN, LOGIN, OK, OK, OK),
    "customersegment_change": (LOGIN, LOGIN, OK, OK, OK),
    "customersegment_add": (LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, OK),
    "customersegment_delete": (LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, OK),
    **{f"{model}_changelist": (LOGIN, LOGIN, OK, OK, OK) for model in VIEW_MODELS},
}


def _url(page: str, data) -> str:
    model, view = page.rsplit("_", 1)
    name = f"admin:monitoring_{model}_{view}"
    if view in ("change", "delete"):
        obj = {"lead": data.ada, "leadsynchistory": LeadSyncHistory.objects.first(), "customersegment": data.smb}[model]
        return reverse(name, args=[obj.pk])
    return reverse(name)


@pytest.fixture
def client_of(request):
    return lambda persona: request.getfixturevalue(f"{persona}_client")


@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("persona", PERSONAS)
def test_admin_page_access(page, persona, client_of, sync_dataset):
    expected = PAGES[page][PERSONAS.index(persona)]
    response = client_of(persona).get(_url(page, sync_dataset))
    if expected == LOGIN:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    else:
        assert response.status_code == expected


@pytest.mark.parametrize("model", VIEW_MODELS)
def test_view_models_have_no_row_pages(model, superuser_client, sync_dataset):
    assert superuser_client.get(f"/admin/monitoring/{model}/1/change/").status_code == NOT_FOUND


@pytest.mark.parametrize(
    "persona,can_edit", [("viewer", False), ("operator", True), ("superuser", True)]
)
def test_lead_change_form_is_editable_only_with_change_permission(persona, can_edit, client_of, sync_dataset):
    response = client_of(persona).get(_url("lead_change", sync_dataset))
    page = response.content.decode()
    assert ('name="seen_updated_at"' in page) is can_edit
    assert ('name="_save"' in page) is can_edit


@pytest.mark.parametrize("persona,expected", [("viewer", 403), ("operator", 403), ("superuser", 302)])
def test_segment_edit_post_needs_superuser(persona, expected, client_of, sync_dataset):
    url = _url("customersegment_change", sync_dataset)
    response = client_of(persona).post(url, {"segment_name": "Small business", "description": "renamed"})
    assert response.status_code == expected
    assert (CustomerSegment.objects.filter(segment_name="Small business").exists()) is (expected == 302)


@pytest.mark.parametrize("persona,expected", [("viewer", 403), ("anonymous", 302), ("non_staff", 302)])
def test_lead_edit_post_is_refused_without_change_permission(persona, expected, client_of, sync_dataset):
    ada = sync_dataset.ada
    response = client_of(persona).post(
        _url("lead_change", sync_dataset),
        {"first_name": "Hacked", "seen_updated_at": ada.updated_at.isoformat(), "history-TOTAL_FORMS": "0",
         "history-INITIAL_FORMS": "0"},
    )
    assert response.status_code == expected
    assert Lead.objects.get(pk=ada.pk).first_name == "Ada"


ACTIONS = {
    "retry_sync": ("katherine", {}),
    "reset_stuck": ("edsger", {}),
    "clear_error_count": ("katherine", {}),
    "resolve_conflict": ("donald", {"winner": "twenty_to_supabase"}),
}


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("persona", PERSONAS)
def test_action_permissions(action, persona, client_of, sync_dataset):
    lead_name, fields = ACTIONS[action]
    lead = getattr(sync_dataset, lead_name)
    before = Lead.objects.values().get(pk=lead.pk)
    client = client_of(persona)
    allowed = persona in ("operator", "superuser")

    page = action_page(client, action, [lead])
    response = confirm_action(client, action, [lead], reason="permission check", **fields)

    after = Lead.objects.values().get(pk=lead.pk)
    manual = LeadRepair.objects.count()
    if allowed:
        assert page.status_code == 200 and "will be changed" in page.content.decode()
        assert response.status_code == 302
        assert after != before and manual == 1
    else:
        assert page.status_code in (200, 302) and response.status_code in (200, 302)
        if persona in ("anonymous", "non_staff"):
            assert response["Location"].startswith(reverse("admin:login"))
        else:
            assert action not in page.content.decode()  # viewers are not offered the action
        assert after == before and manual == 0


def test_viewer_is_not_offered_any_action(viewer_client, sync_dataset):
    response = viewer_client.get(reverse("admin:monitoring_lead_changelist"))
    assert 'name="action"' not in response.content.decode()


def test_operator_sees_the_four_actions(operator_client, sync_dataset):
    page = operator_client.get(reverse("admin:monitoring_lead_changelist")).content.decode()
    for action in ACTIONS:
        assert f'value="{action}"' in page
    assert 'value="delete_selected"' not in page
    assert Lead.objects.filter(sync_status=LeadSyncStatus.ERROR).count() == 2
