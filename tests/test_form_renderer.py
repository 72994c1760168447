"""Forms render the same through the portal's renderer as through Django's default one.

FORM_RENDERER is monitoring.form_renderer.PortalFormRenderer: TemplatesSetting, so that
templates/django/forms/widgets/select.html can write a select's options out instead of including a
template per option, with the input widgets, that select and the label tag written out in Python.
Both must produce Django's own markup byte for byte, for every widget and value and on every page
with a form.
"""
from __future__ import annotations

import re
from datetime import datetime

import pytest
import time_machine
from django import forms
from django.conf import settings
from django.forms.renderers import DjangoTemplates, TemplatesSetting, get_default_renderer
from django.test import override_settings
from django.test.signals import template_rendered
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from monitoring.form_renderer import INPUT_TEMPLATES, LABEL, SELECT, PortalFormRenderer

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
    assert isinstance(get_default_renderer(), PortalFormRenderer)
    assert isinstance(get_default_renderer(), TemplatesSetting)
    assert set(PortalFormRenderer().fast_paths()) == {
        "django/forms/widgets/input.html", *INPUT_TEMPLATES, SELECT, LABEL,
    }


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


# Values a widget can be given: markup, quotes, safe strings, lazy text, numbers, dates, None.
MARKUP = st.text(alphabet=st.sampled_from(list('ab <>&"\'é\u2028\x00 1')), max_size=12)
SCALARS = st.one_of(
    st.none(),
    MARKUP,
    MARKUP.map(mark_safe),
    st.integers(-10**7, 10**7),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.dates(),
    st.just(gettext_lazy("Any status")),
)
VALUES = st.one_of(SCALARS, st.tuples(st.integers(0, 9), st.integers(0, 9)))  # stringformat formats tuples
ATTRS = st.dictionaries(
    st.sampled_from(["class", "id", "data-x", "placeholder", "disabled", 'a"b', "<x>"]),
    st.one_of(st.booleans(), VALUES),
    max_size=4,
)


class RandomWidgets(forms.Form):
    """One field per widget kind the portal's renderer writes out."""

    text = forms.CharField(required=False)
    number = forms.IntegerField(required=False)
    day = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    hidden = forms.CharField(required=False, widget=forms.HiddenInput)
    email = forms.EmailField(required=False)
    secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=True))
    flag = forms.BooleanField(required=False)
    choice = forms.ChoiceField(required=False)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.dictionaries(st.sampled_from(["text", "number", "day", "hidden", "email", "secret", "choice"]),
                           VALUES.map(lambda v: "" if v is None else str(v))),
    attrs=ATTRS,
    label=st.one_of(st.text(alphabet=st.sampled_from(list('ab <>&"é:')), max_size=8),
                    MARKUP.map(mark_safe), st.just(gettext_lazy("Any status"))),
    choices=st.lists(st.tuples(SCALARS, st.one_of(SCALARS, st.lists(st.tuples(SCALARS, SCALARS), max_size=3))),
                     max_size=4),
    bound=st.booleans(),
)
def test_random_widgets_render_as_with_djangos_templates(values, attrs, label, choices, bound):
    """Every widget and label the fast path writes, given any value, attribute or label, is what
    Django's own templates make of it (escaping, localization, True/False attributes, groups)."""
    outputs = []
    for renderer in (PortalFormRenderer(), DjangoTemplates()):
        form = RandomWidgets(data=values if bound else None, initial=None if bound else values, renderer=renderer)
        form.fields["choice"].choices = choices
        for field in form.fields.values():
            field.widget.attrs.update(attrs)
            field.label = label
        outputs.append("".join(
            str(form[name]) + form[name].label_tag() + form[name].label_tag(attrs=attrs) for name in form.fields
        ))
    assert outputs[0] == outputs[1]


def test_an_overridden_widget_template_turns_its_fast_path_off(tmp_path):
    """A template in templates/ that replaces one the renderer writes out is used, not ignored."""
    override = tmp_path / "django" / "forms" / "widgets" / "text.html"
    override.parent.mkdir(parents=True)
    override.write_text('<input class="overridden" name="{{ widget.name }}">')
    engine = {**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}
    with override_settings(TEMPLATES=[engine]):
        renderer = PortalFormRenderer()
        assert "django/forms/widgets/text.html" not in renderer.fast_paths()
        assert "django/forms/widgets/number.html" in renderer.fast_paths()
        html = str(RandomWidgets(renderer=renderer)["text"])
    assert html == '<input class="overridden" name="text">'


class OwnOption(forms.Select):
    option_template_name = "portal_test/option.html"


def test_an_option_with_a_template_of_its_own_renders_as_djangos_include(tmp_path):
    """An option that is not select_option.html is included as the select template includes it:
    not stripped, with the select's context."""
    option = tmp_path / "portal_test" / "option.html"
    option.parent.mkdir(parents=True)
    option.write_text('<option data-own value="{{ widget.value }}">{{ widget.label }}</option>\n')
    engine = {**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}

    class OwnOptions(forms.Form):
        pick = forms.ChoiceField(choices=[("a", "A <b>"), ("G", [("g", "G")])], widget=OwnOption)

    with override_settings(TEMPLATES=[engine]):
        # TemplatesSetting: the templates themselves (DjangoTemplates cannot see templates/ dirs).
        portal, django = (str(OwnOptions(renderer=r)["pick"]) for r in (PortalFormRenderer(), TemplatesSetting()))
    assert portal == django
    assert '<option data-own value="a">A &lt;b&gt;</option>\n\n' in portal


def test_a_list_page_renders_no_widget_template(superuser_client):
    """The leads list's filters (text, number and select inputs, labels) are written out in Python:
    no widget or label template is rendered for them any more."""
    seed_demo(leads=20, history=50, days=2, seed=3)
    rendered = []

    def record(sender, template, context, **kwargs):  # noqa: ANN001
        rendered.append(template.name)

    template_rendered.connect(record)
    try:
        response = superuser_client.get(reverse("monitoring:leads"))
    finally:
        template_rendered.disconnect(record)
    assert response.status_code == 200
    assert response.content.decode().count("<select") == 4 and 'type="number"' in response.content.decode()
    assert [name for name in rendered if name.startswith("django/forms/")] == []
    assert "monitoring/object_list.html" in rendered  # the recorder does see the page's templates
