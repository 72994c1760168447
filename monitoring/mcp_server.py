"""The MCP server (`manage.py mcp_server`): the spec's get-sync-metrics tool, served by the portal.

The spec's n8n workflow and assistants called a Supabase MCP tool `get-sync-metrics`; this
server offers the same tool name and document (the one the HTTP API returns), plus
`get-recent-errors`. It speaks stdio, so whoever may start it already holds the portal's
database credentials: no token is asked for.
"""
from __future__ import annotations

from typing import Annotated, Any

from django.db import close_old_connections
from mcp.server.mcpserver import MCPServer
from pydantic import Field

from leadsync_portal import __version__
from monitoring import selectors
from monitoring.selectors.metrics import json_ready, sync_metrics_payload

MAX_RECENT_ERRORS = 100


def _fresh_connection() -> None:
    # Tools run in worker threads with no request cycle around them: drop a connection the
    # database closed (restart, idle timeout) before and after each call, as a request would.
    close_old_connections()


def get_sync_metrics() -> dict[str, Any]:
    """Lead sync metrics: leads per status (metrics[2].count = leads in error), the 10 newest sync
    attempts, 7 days of lead analytics, the health summary and firing alerts."""
    _fresh_connection()
    try:
        return json_ready(sync_metrics_payload())
    finally:
        _fresh_connection()


def get_recent_errors(
    limit: Annotated[int, Field(ge=1, le=MAX_RECENT_ERRORS, description="How many leads to return (1-100).")] = 20,
) -> dict[str, Any]:
    """Leads in sync error, most errors first, each with its newest failed attempt's message."""
    _fresh_connection()
    try:
        return {"errors": json_ready(selectors.recent_errors(limit=limit)), "limit": limit}
    finally:
        _fresh_connection()


def build_server() -> MCPServer:
    server = MCPServer(
        name="leadsync-portal",
        version=__version__,  # serverInfo.version: clients log and show which release answered
        instructions="Read-only metrics of the Twenty CRM <-> Supabase lead sync.",
    )
    server.add_tool(get_sync_metrics, name="get-sync-metrics")
    server.add_tool(get_recent_errors, name="get-recent-errors")
    return server
