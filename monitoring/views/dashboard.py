"""The spec's dashboards as pages."""
from __future__ import annotations

from typing import Any

from django.views.generic import TemplateView

from monitoring import selectors

from .base import PortalAccessMixin


class OverviewView(PortalAccessMixin, TemplateView):
    template_name = "monitoring/overview.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(health=selectors.health_summary(), **kwargs)
