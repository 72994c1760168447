"""The MCP server says which release it is: serverInfo.version, read by the official SDK client.
The handshake reads no table, so no test database is needed."""
from __future__ import annotations

import anyio
from mcp import Client

import leadsync_portal
from tests.test_mcp import server_parameters


async def _server_info():  # type: ignore[no-untyped-def]
    async with Client(server_parameters(), read_timeout_seconds=30) as client:
        return client.server_info


def test_server_info_reports_the_package_version():
    info = anyio.run(_server_info)
    assert info is not None
    assert info.name == "leadsync-portal"
    assert info.version == leadsync_portal.__version__
    assert info.version  # was "" before: clients could not tell which release answered
