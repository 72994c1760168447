"""python manage.py mcp_server: serve the portal's MCP tools over stdio (for n8n, assistants)."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from monitoring.mcp_server import build_server


class Command(BaseCommand):
    help = "Run the MCP server over stdio with the tools get-sync-metrics and get-recent-errors."
    # stdout carries the MCP protocol: Django's checks must not print there.
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        build_server().run("stdio")
