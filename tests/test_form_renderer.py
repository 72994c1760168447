"""Forms render the same through the portal's renderer as through Django's default one.

FORM_RENDERER is TemplatesSetting so that templates/django/forms/widgets/select.html can write a
select's options out instead of including a template per option; that file must produce Django's
own markup byte for byte, for every widget that uses it and on every page with a form.
"""
from __future__ import annotations

import re
from datetime import datetime

import pytest
import time_machine
from django import forms
from django.forms.renderers import DjangoTemplates, TemplatesSetting, get_default_renderer
from django.test import override_settings
from django.urls import reverse

from monitoring.models import Lead
from monitoring.navigation import NAVIGATION
from monitoring.services.demo_data import seed_demo

DJANGO_DEFAULT = "django.forms.renderers.DjangoTemplates"
ANCHOR = datetime.fromisoformat("2026-11-30T12:00:00+00:00")
PER_REQUEST = re.compile(r'(name="csrfmiddlewaretoken" value="|nonce=")[^"]*')


class EveryKindOfSelect(forms.Form):
    plain = forms.ChoiceField(choices=[("a", "A <b>&"), ("", "— any —"), ("1", "One")], initial="1")
    grouped = forms.ChoiceField(
        choices=[("Fruit", [("apple", "Apple"), ("pear", "Pear")]), ("Veg", [("kale", "Kale")]), ("x", "X")],
        required=False,
    )
    many = forms.MultipleChoiceField(choices=[(1, "one"), (2, "two"), (3, "three")], initial=[1, 3])
    yes_no = forms.NullBooleanField(widget=forms.NullBooleanSelect, initial=True)
    flagged = forms.ChoiceField(
        choices=[("a", "A")],
        widget=forms.Select(attrs={"disabled": True, "data-off": False, "data-note": 'say "hi"', "class": "x"}),
    )
    radio = forms.ChoiceField(choices=[("r", "R"), ("s", "S")], widget=forms.RadioSelect, initial="s")


def test_the_portal_renders_its_widgets_through_its_own_templates():
    assert isinstance(get_default_renderer(), TemplatesSetting)


@pytest.mark.parametrize("data", [None, {"plain": "a", "grouped": "pear", "many": ["2"], "yes_no": "false", "radio": "r"}])
def test_every_kind_of_select_renders_as_djangos_own(data):
    portal = str(EveryKindOfSelect(data=data, renderer=TemplatesSetting()))
    django = str(EveryKindOfSelect(data=data, renderer=DjangoTemplates()))
    assert portal == django
    assert portal.count("<option") == 3 + 4 + 3 + 3 + 1  # every option is there (grouped: 4)
    assert 'name="flagged" disabled data-note="say &quot;hi&quot;" class="x"' in portal and "data-off" not in portal
    assert "A &lt;b&gt;&amp;" in portal  # labels escaped


def page_urls() -> list[str]:
    lead = Lead.objects.filter(sync_status="error").order_by("id").first()
    return [reverse(name) for name, _ in NAVIGATION] + [
        reverse("monitoring:lead-detail", args=[lead.pk]),
        reverse("admin:monitoring_lead_changelist"),
        reverse("admin:monitoring_lead_change", args=[lead.pk]),
        reverse("admin:monitoring_leadsynchistory_changelist"),
        reverse("admin:auth_user_add"),
    ]


def test_every_page_renders_its_forms_as_with_djangos_renderer(superuser_client):
    with time_machine.travel(ANCHOR, tick=False):
        seed_demo(leads=200, history=1_000, days=3, seed=5, now=ANCHOR)
        selects = 0
        for url in page_urls():
            pages = {}
            for renderer in (None, DJANGO_DEFAULT):
                with override_settings(**({"FORM_RENDERER": renderer} if renderer else {})):
                    response = superuser_client.get(url)
                assert response.status_code == 200, url
                pages[renderer] = PER_REQUEST.sub(r"\1…", response.content.decode())
            assert pages[None] == pages[DJANGO_DEFAULT], url
            selects += pages[None].count("<select")
    assert selects >= 10  # the pages above do have selects to compare
