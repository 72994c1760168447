"""The shipped n8n workflow, imported into a real n8n and run against the portal (opt-in).

Skipped unless LEADSYNC_N8N_BIN names an n8n 2.x executable: installing n8n takes minutes and
2.3 GB, so CI does not (docs/integrations.md says how to install it for this test). The test does
what an operator does, with the n8n CLI on a throw-away n8n folder:

- imports the two credentials under the names the workflow carries ("LeadSync Portal API token",
  a Header Auth with a real API token; "SMTP account", plain SMTP to a RecordingSMTPServer), then
  the workflow file with only its URL changed (the live test server), and checks that n8n linked
  both credentials to the nodes by name;
- runs it with `n8n execute` at 11 leads in error (the IF node takes its true branch and the
  e-mail reaches the SMTP server) and at exactly 10 (the false branch, no e-mail).
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from monitoring.choices import LeadSyncStatus
from monitoring.models import Lead
from monitoring.services.api_tokens import create_api_token

from .hostile_servers import RecordingSMTPServer, closed_port

N8N = os.environ.get("LEADSYNC_N8N_BIN", "")
WORKFLOW = Path(__file__).resolve().parent.parent / "integrations" / "n8n" / "lead-sync-monitor.json"
WORKFLOW_ID = "leadsyncMonitorTest"  # n8n ids are at most 21 characters

pytestmark = [
    pytest.mark.skipif(not N8N, reason="LEADSYNC_N8N_BIN is not set (an n8n 2.x executable, see docs/integrations.md)"),
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),  # the live server reads committed rows
]


class N8nCli:
    """The n8n command line on a folder of its own (SQLite database, encryption key, no telemetry)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(folder),
            "N8N_USER_FOLDER": str(folder),
            "N8N_ENCRYPTION_KEY": secrets.token_hex(16),
            "N8N_DIAGNOSTICS_ENABLED": "false",
            "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
            "N8N_TEMPLATES_ENABLED": "false",
            "N8N_PERSONALIZATION_ENABLED": "false",
            "N8N_LISTEN_ADDRESS": "127.0.0.1",
            "N8N_PORT": str(closed_port()),
            # `n8n execute` starts a task broker for its runners on this port (default 5679).
            "N8N_RUNNERS_BROKER_PORT": str(closed_port()),
        }

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        # Its own session, so a deadline kills n8n and the task runner it started.
        process = subprocess.Popen([N8N, *args], env=self.env, cwd=self.folder, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            pytest.fail(f"n8n {' '.join(args)} still running after {timeout} s:\n{stdout[-3000:]}\n{stderr[-3000:]}")
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def check(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, f"n8n {' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result.stdout

    def execute(self, workflow_id: str) -> dict[str, Any]:
        """`n8n execute --rawOutput`: the run as JSON, after the lines n8n logs on start-up."""
        stdout = self.check("execute", f"--id={workflow_id}", "--rawOutput")
        lines = stdout.splitlines()
        return json.loads("\n".join(lines[lines.index("{"):]))


def outputs(run: dict[str, Any]) -> dict[str, list[int]]:
    """Per node that ran: how many items it sent on each of its outputs."""
    return {name: [len(items or []) for items in runs[0]["data"]["main"]]
            for name, runs in run["data"]["resultData"]["runData"].items()}


def test_the_workflow_runs_in_n8n_against_the_portal(live_server, viewer, tmp_path):
    for number in range(11):  # past the spec's threshold of 10
        Lead.objects.create(email=f"failing{number}@example.com", sync_status=LeadSyncStatus.ERROR, sync_error_count=1)
    token = create_api_token(user=viewer, name="n8n")[1]
    n8n = N8nCli(tmp_path)

    with RecordingSMTPServer() as smtp:
        (tmp_path / "credentials.json").write_text(json.dumps([
            {"id": "leadsyncApiToken", "name": "LeadSync Portal API token", "type": "httpHeaderAuth",
             "data": {"name": "Authorization", "value": f"Bearer {token}"}},
            {"id": "leadsyncSmtp", "name": "SMTP account", "type": "smtp",
             "data": {"user": "", "password": "", "host": "127.0.0.1", "port": smtp.port, "secure": False,
                      "disableStartTls": True}},
        ]))
        n8n.check("import:credentials", f"--input={tmp_path / 'credentials.json'}")

        # The shipped file with only the URL changed (and an id to run it by): its credential
        # references still hold the placeholder ids, so n8n has to find them by name.
        workflow = json.loads(WORKFLOW.read_text())
        workflow["id"] = WORKFLOW_ID
        http = next(node for node in workflow["nodes"] if node["name"] == "Get Sync Metrics")
        http["parameters"]["url"] = f"http://127.0.0.1:{urlparse(live_server.url).port}/api/sync-metrics/"
        (tmp_path / "workflow.json").write_text(json.dumps(workflow))
        n8n.check("import:workflow", f"--input={tmp_path / 'workflow.json'}")

        n8n.check("export:workflow", f"--id={WORKFLOW_ID}", f"--output={tmp_path / 'exported.json'}")
        (exported,) = json.loads((tmp_path / "exported.json").read_text())
        assert exported["active"] is False  # imported unpublished
        assert {node["name"]: node.get("credentials") for node in exported["nodes"] if node.get("credentials")} == {
            "Get Sync Metrics": {"httpHeaderAuth": {"id": "leadsyncApiToken", "name": "LeadSync Portal API token"}},
            "Notify Operators": {"smtp": {"id": "leadsyncSmtp", "name": "SMTP account"}},
        }

        # 11 leads in error: the IF node's true branch, and the e-mail goes out.
        run = n8n.execute(WORKFLOW_ID)
        assert run["status"] == "success"
        assert outputs(run) == {"Run Now": [1], "Get Sync Metrics": [1], "Check Error Threshold": [1, 0],
                                "Notify Operators": [1]}
        document = run["data"]["resultData"]["runData"]["Get Sync Metrics"][0]["data"]["main"][0][0]["json"]
        assert document["metrics"][2] == {**document["metrics"][2], "sync_status": "error", "count": 11}
        assert len(smtp.messages) == 1
        (sent,) = smtp.messages
        assert (sent["mail_from"], sent["rcpt_to"]) == ("leadsync-monitor@example.com", ["ops@example.com"])
        health = document["health"]
        assert sent["message"]["subject"] == f"Lead sync: 11 leads in error ({health['overall_health']})"
        body = sent["message"].get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")  # SMTP lines end in CRLF
        assert body.startswith(
            "Leads in error: 11\n"
            f"Overall health: {health['overall_health']}\n"
            f"Sync success rate: {health['sync_success_rate']} %\n"
            f"Failed attempts in 24 h: {health['total_errors']}\n"
            f"Checked at: {document['timestamp']}\n"
        ), body

        # Exactly 10: the false branch, no e-mail.
        Lead.objects.filter(email="failing0@example.com").update(sync_status=LeadSyncStatus.SYNCED)
        run = n8n.execute(WORKFLOW_ID)
        assert run["status"] == "success"
        assert outputs(run) == {"Run Now": [1], "Get Sync Metrics": [1], "Check Error Threshold": [0, 1],
                                "Sync Healthy": [1]}
        document = run["data"]["resultData"]["runData"]["Get Sync Metrics"][0]["data"]["main"][0][0]["json"]
        assert document["metrics"][2]["count"] == 10
        assert len(smtp.messages) == 1
