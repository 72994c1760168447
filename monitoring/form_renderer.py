"""The portal's form renderer: the widgets every filter form shows, written out in Python.

FORM_RENDERER was TemplatesSetting, which renders one template (and its includes) per widget and
per label: a list page's eight filters cost 8-12 ms on the slow host of docs/performance.md, a
fifth of the page. This renderer keeps TemplatesSetting for everything else and writes out, step
for step, what these templates would: Django's input widgets (text, number, date, …: all
`{% include "django/forms/widgets/input.html" %}`), the select of templates/django/forms/widgets/
select.html (Django's select + select_option + attrs) and the label tag. Values go through the same
conversion as a template variable: `stringformat:'s'` where the template has it, then the display
zone, localization and escaping (django.template.base.render_value_in_context).

tests/test_form_renderer.py renders every portal page and random widgets both ways and compares
the HTML byte for byte; it also checks that the templates resolved here are still the ones
mirrored, so an override in templates/ turns the fast path off instead of being ignored.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.forms.renderers import TemplatesSetting
from django.template.defaultfilters import stringformat
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import SafeData, mark_safe
from django.utils.timezone import template_localtime

INPUT = "django/forms/widgets/input.html"
# Django's widget templates that are `{% include "django/forms/widgets/input.html" %}` and a newline.
INPUT_TEMPLATES = frozenset(
    f"django/forms/widgets/{name}.html"
    for name in (
        "checkbox", "color", "date", "datetime", "email", "file", "hidden", "number", "password",
        "search", "tel", "text", "time", "url",
    )
)
SELECT = "django/forms/widgets/select.html"
SELECT_OPTION = "django/forms/widgets/select_option.html"
LABEL = "django/forms/label.html"
ATTRS = ("django/forms/widgets/attrs.html", "django/forms/attrs.html")  # included by all of the above


def text(value: Any) -> str:
    """{{ value }}: render_value_in_context() with autoescape on, USE_TZ and USE_L10N as set."""
    value = localize(template_localtime(value))
    if not issubclass(type(value), str):
        value = str(value)
    return conditional_escape(value)


def formatted(value: Any) -> str:
    """{{ value|stringformat:'s' }}: the filter is is_safe, so safe input stays unescaped."""
    result = stringformat(value, "s")
    return text(mark_safe(result) if isinstance(value, SafeData) else result)


def attributes(attrs: Mapping[str, Any] | None) -> str:
    """django/forms/widgets/attrs.html (and django/forms/attrs.html, the same loop over `attrs`)."""
    if not attrs:
        return ""
    parts = []
    for name, value in attrs.items():
        if value is False:
            continue
        parts.append(f" {text(name)}" if value is True else f' {text(name)}="{formatted(value)}"')
    return "".join(parts)


def render_input(widget: Mapping[str, Any]) -> str:
    """input.html (the renderer strips the newline its file ends in)."""
    value = f' value="{formatted(widget["value"])}"' if widget["value"] != None else ""  # noqa: E711 (the template's !=)
    return f'<input type="{text(widget["type"])}" name="{text(widget["name"])}"{value}{attributes(widget["attrs"])}>'


class PortalFormRenderer(TemplatesSetting):
    """TemplatesSetting, with the templates above rendered in Python while they resolve to the files
    mirrored here (Django's own, and templates/ for select.html)."""

    def __init__(self) -> None:
        super().__init__()
        self._fast: dict[str, Callable[[dict[str, Any]], str]] | None = None

    def fast_paths(self) -> dict[str, Callable[[dict[str, Any]], str]]:
        """Template name -> its Python rendering, for the templates that resolve as expected."""
        if self._fast is None:
            fast: dict[str, Callable[[dict[str, Any]], str]] = {}
            if all(map(self._resolves_to_django, ATTRS)):
                if self._resolves_to_django(INPUT):
                    fast.update((name, self._render_input) for name in (INPUT, *INPUT_TEMPLATES)
                                if self._resolves_to_django(name))
                if self._resolves_to_portal(SELECT) and self._resolves_to_django(SELECT_OPTION):
                    fast[SELECT] = self._render_select
                if self._resolves_to_django(LABEL):
                    fast[LABEL] = self._render_label
            self._fast = fast
        return self._fast

    def render(self, template_name: str, context: dict[str, Any], request: Any = None) -> str:
        fast = self.fast_paths().get(template_name)
        if fast is None or request is not None:
            return super().render(template_name, context, request)
        return fast(context).strip()  # BaseRenderer.render() strips what the template gives

    def _origin(self, template_name: str) -> str:
        return str(self.get_template(template_name).origin.name)

    def _resolves_to_django(self, template_name: str) -> bool:
        return "/django/forms/templates/" in self._origin(template_name)

    def _resolves_to_portal(self, template_name: str) -> bool:
        return self._origin(template_name) == str(settings.BASE_DIR / "templates" / template_name)

    def _render_input(self, context: dict[str, Any]) -> str:
        return render_input(context["widget"])

    def _render_select(self, context: dict[str, Any]) -> str:
        widget = context["widget"]
        parts = [f'<select name="{text(widget["name"])}"{attributes(widget["attrs"])}>']
        for group_name, group_choices, _index in widget["optgroups"]:
            if group_name:
                parts.append(f'\n  <optgroup label="{text(group_name)}">')
            for option in group_choices:
                parts.append("\n  ")
                if option["template_name"] == SELECT_OPTION:
                    parts.append(
                        f'<option value="{formatted(option["value"])}"{attributes(option["attrs"])}>'
                        f'{text(option["label"])}</option>\n'
                    )
                else:  # {% include option.template_name with widget=option %}: not stripped
                    parts.append(self.get_template(option["template_name"]).render({**context, "widget": option}))
            if group_name:
                parts.append("\n  </optgroup>")
        parts.append("\n</select>")
        return "".join(parts)

    def _render_label(self, context: dict[str, Any]) -> str:
        if not context["use_tag"]:
            return text(context["label"])
        tag = text(context["tag"])
        return f"<{tag}{attributes(context['attrs'])}>{text(context['label'])}</{tag}>"
