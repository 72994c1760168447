"""The shipped integration files: the n8n workflow and the Grafana provisioning."""
from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.db import connection
from django.urls import reverse

from monitoring.choices import LeadSyncStatus
from monitoring.models import Lead
from monitoring.services.alerts import evaluate_alerts
from monitoring.services.api_tokens import create_api_token

INTEGRATIONS = Path(__file__).resolve().parent.parent / "integrations"
WORKFLOW = INTEGRATIONS / "n8n" / "lead-sync-monitor.json"
GRAFANA = INTEGRATIONS / "grafana"


# ---- n8n ----------------------------------------------------------------------------------

def load_workflow() -> dict[str, Any]:
    return json.loads(WORKFLOW.read_text())


def node(workflow: dict[str, Any], name: str) -> dict[str, Any]:
    return next(n for n in workflow["nodes"] if n["name"] == name)


EXPRESSION = re.compile(r"\{\{\s*(.*?)\s*\}\}")
JSON_PATH = re.compile(r"\$json((?:\.[A-Za-z_]\w*|\[\d+\])+)")


def evaluate(expression: str, item: dict[str, Any]) -> Any:
    """Evaluate an n8n `{{$json...}}` path (attribute and index steps) against an item's JSON."""
    match = JSON_PATH.fullmatch(expression)
    assert match, f"only $json paths are used in the workflow, got {expression!r}"
    value: Any = item
    for step in re.findall(r"\.([A-Za-z_]\w*)|\[(\d+)\]", match.group(1)):
        value = value[step[0]] if step[0] else value[int(step[1])]
    return value


def if_branch(workflow: dict[str, Any], item: dict[str, Any]) -> str:
    """Which node the IF node (v2 filter conditions, combinator and/or) hands the item to."""
    parameters = node(workflow, "Check Error Threshold")["parameters"]["conditions"]
    operations = {"gt": lambda a, b: a > b, "lt": lambda a, b: a < b, "gte": lambda a, b: a >= b,
                  "lte": lambda a, b: a <= b, "equals": lambda a, b: a == b}
    results = []
    for condition in parameters["conditions"]:
        assert condition["operator"]["type"] == "number"
        left = evaluate(EXPRESSION.fullmatch(condition["leftValue"].lstrip("=")).group(1), item)
        results.append(operations[condition["operator"]["operation"]](left, condition["rightValue"]))
    passed = all(results) if parameters["combinator"] == "and" else any(results)
    outputs = workflow["connections"]["Check Error Threshold"]["main"]
    return outputs[0 if passed else 1][0]["node"]


def test_workflow_is_an_importable_n8n_workflow():
    workflow = load_workflow()
    assert workflow["name"] == "Lead Sync Monitor"
    assert workflow["active"] is False  # imported switched off until credentials are set
    names = [n["name"] for n in workflow["nodes"]]
    assert len(names) == len(set(names))
    for n in workflow["nodes"]:
        assert {"id", "name", "type", "typeVersion", "position", "parameters"} <= set(n), n["name"]
        uuid.UUID(n["id"])
        assert n["type"].startswith("n8n-nodes-base.")
        assert isinstance(n["typeVersion"], (int, float))
        assert len(n["position"]) == 2 and all(isinstance(p, (int, float)) for p in n["position"])
    assert len({n["id"] for n in workflow["nodes"]}) == len(names)
    # Every connection joins existing nodes on a main output.
    for source, outputs in workflow["connections"].items():
        assert source in names
        for branch in outputs["main"]:
            for link in branch:
                assert link["node"] in names and link["type"] == "main" and link["index"] == 0


def test_workflow_nodes_are_the_latest_versions_of_n8n_2_8_4():
    # The highest typeVersion each node type offers in n8n 2.8.4 (n8n-nodes-base 2.8.1), the
    # version the workflow was run with (a node created in its editor gets these).
    assert {n["type"]: n["typeVersion"] for n in load_workflow()["nodes"]} == {
        "n8n-nodes-base.manualTrigger": 1,
        "n8n-nodes-base.scheduleTrigger": 1.3,
        "n8n-nodes-base.httpRequest": 4.4,
        "n8n-nodes-base.if": 2.3,
        "n8n-nodes-base.emailSend": 2.1,
        "n8n-nodes-base.noOp": 1,
    }


def test_workflow_polls_the_api_every_five_minutes_with_a_header_credential():
    workflow = load_workflow()
    trigger = node(workflow, "Check Every 5 Minutes")
    assert trigger["type"] == "n8n-nodes-base.scheduleTrigger"
    assert trigger["parameters"]["rule"]["interval"] == [{"field": "minutes", "minutesInterval": 5}]

    http = node(workflow, "Get Sync Metrics")
    assert http["type"] == "n8n-nodes-base.httpRequest"
    assert http["parameters"].get("method", "GET") == "GET"
    assert http["parameters"]["url"].endswith(reverse("monitoring:api-sync-metrics"))
    assert http["parameters"]["authentication"] == "genericCredentialType"
    assert http["parameters"]["genericAuthType"] == "httpHeaderAuth"
    assert set(http["credentials"]) == {"httpHeaderAuth"}  # a placeholder to pick on import, no secret inside
    assert "Bearer" not in json.dumps(http["parameters"])

    check = node(workflow, "Check Error Threshold")
    assert check["type"] == "n8n-nodes-base.if"
    # The current IF node (n8n 2.x marks version 1 as outdated), with the spec's condition:
    # leads in error larger than 10, compared as numbers. Filter options version 3 is what the
    # 2.3 node writes when created in the editor.
    assert check["typeVersion"] == 2.3
    conditions = check["parameters"]["conditions"]
    assert conditions["combinator"] == "and" and conditions["options"]["typeValidation"] == "strict"
    assert conditions["options"]["version"] == 3
    assert [(c["leftValue"], c["operator"], c["rightValue"]) for c in conditions["conditions"]] == [
        ("={{ $json.metrics[2].count }}", {"type": "number", "operation": "gt"}, 10)]
    # The credentials carry the names the docs tell people to create before the import, so n8n
    # links them by name.
    assert http["credentials"]["httpHeaderAuth"]["name"] == "LeadSync Portal API token"
    assert node(workflow, "Notify Operators")["credentials"]["smtp"]["name"] == "SMTP account"

    assert workflow["connections"]["Check Every 5 Minutes"]["main"] == [
        [{"node": "Get Sync Metrics", "type": "main", "index": 0}]]
    # `n8n execute --id` refuses a workflow without a Manual Trigger ("Missing node to start
    # execution", n8n 2.8.4), so one feeds the same request for runs by hand and the opt-in test
    # (tests/test_n8n_run.py). It comes first: the CLI starts from the first trigger in the list.
    assert workflow["nodes"][0]["name"] == "Run Now"
    assert (workflow["nodes"][0]["type"], workflow["nodes"][0]["typeVersion"]) == ("n8n-nodes-base.manualTrigger", 1)
    assert workflow["connections"]["Run Now"]["main"] == [[{"node": "Get Sync Metrics", "type": "main", "index": 0}]]
    assert workflow["connections"]["Get Sync Metrics"]["main"] == [
        [{"node": "Check Error Threshold", "type": "main", "index": 0}]]
    assert [branch[0]["node"] for branch in workflow["connections"]["Check Error Threshold"]["main"]] == [
        "Notify Operators", "Sync Healthy"]


def api_response(client, user) -> dict[str, Any]:
    secret = create_api_token(user=user, name="n8n")[1]
    response = client.get(reverse("monitoring:api-sync-metrics"), HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    return response.json()


def test_workflow_expressions_on_a_real_api_response(client, viewer, sync_dataset):
    workflow = load_workflow()
    evaluate_alerts()  # a response with firing alerts in it, as in production
    item = api_response(client, viewer)
    assert len(item["alerts"]) == 5

    assert evaluate("$json.metrics[2].count", item) == 2  # leads in error
    assert if_branch(workflow, item) == "Sync Healthy"
    # Every expression of the notification resolves on the response.
    notify = node(workflow, "Notify Operators")["parameters"]
    resolved = {expr: evaluate(expr, item) for field in ("subject", "text") for expr in EXPRESSION.findall(notify[field])}
    assert resolved["$json.health.overall_health"] == "critical"
    assert resolved["$json.health.total_errors"] == 3


def test_workflow_notifies_above_ten_leads_in_error(client, viewer, sync_dataset):
    for number in range(9):  # 2 + 9 = 11 leads in error, past the spec's threshold of 10
        Lead.objects.create(email=f"failing{number}@example.com", sync_status=LeadSyncStatus.ERROR, sync_error_count=1)
    item = api_response(client, viewer)
    assert evaluate("$json.metrics[2].count", item) == 11
    assert if_branch(load_workflow(), item) == "Notify Operators"


def test_workflow_stays_quiet_at_exactly_ten(client, viewer, sync_dataset):
    for number in range(8):
        Lead.objects.create(email=f"failing{number}@example.com", sync_status=LeadSyncStatus.ERROR, sync_error_count=1)
    assert if_branch(load_workflow(), api_response(client, viewer)) == "Sync Healthy"


# ---- Grafana ------------------------------------------------------------------------------

def load_dashboard() -> dict[str, Any]:
    return json.loads((GRAFANA / "dashboards" / "lead-sync-monitoring.json").read_text())


def panel(title: str) -> dict[str, Any]:
    return next(p for p in load_dashboard()["panels"] if p["title"] == title)


def concrete(sql: str) -> str:
    """Grafana's macros replaced by what Grafana would send for 'last 7 days'."""
    sql = re.sub(r"\$__timeFilter\(([^)]+)\)", r"\1 BETWEEN NOW() - INTERVAL '7 days' AND NOW()", sql)
    sql = sql.replace("$__timeFrom()", "NOW() - INTERVAL '7 days'").replace("$__timeTo()", "NOW()")
    assert "$" not in sql, f"unhandled Grafana variable in {sql!r}"
    return sql


def run_panel_sql(title: str) -> list[tuple]:
    return panel_columns_and_rows(title)[1]


def panel_columns_and_rows(title: str) -> tuple[list[str], list[tuple]]:
    (target,) = panel(title)["targets"]
    with connection.cursor() as cursor:
        cursor.execute(concrete(target["rawSql"]))
        return [column.name for column in cursor.description], cursor.fetchall()


def test_datasource_provisioning_takes_everything_from_the_environment():
    config = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "leadsync.yaml").read_text())
    assert config["apiVersion"] == 1
    (source,) = config["datasources"]
    assert source["type"] == "postgres" and source["uid"] == "leadsync-postgres"
    assert source["url"] == "${LEADSYNC_DB_HOST}:${LEADSYNC_DB_PORT}"
    assert source["user"] == "${LEADSYNC_DB_USER}"
    assert source["jsonData"]["database"] == "${LEADSYNC_DB_NAME}"
    assert source["secureJsonData"] == {"password": "${LEADSYNC_DB_PASSWORD}"}


def test_dashboard_provider_points_at_a_folder():
    config = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "leadsync.yaml").read_text())
    (provider,) = config["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")


def test_dashboard_has_the_spec_panels_on_the_provisioned_datasource():
    dashboard = load_dashboard()
    assert dashboard["uid"] == "leadsync-monitoring" and dashboard["schemaVersion"] >= 36
    panels = {p["title"]: p for p in dashboard["panels"]}
    assert {title: p["type"] for title, p in panels.items()} == {
        "Sync status": "piechart", "Error rate": "gauge", "Sync health": "stat",
        "Sync performance": "timeseries", "Recent errors": "table"}
    assert len({p["id"] for p in dashboard["panels"]}) == len(panels)
    for p in dashboard["panels"]:
        assert p["datasource"] == {"type": "postgres", "uid": "leadsync-postgres"}
        for target in p["targets"]:
            assert target["datasource"]["uid"] == "leadsync-postgres" and target["rawQuery"] is True
    # Spec panel 3: green 0-5 %, yellow 5-10 %, red above 10 %.
    assert panels["Error rate"]["fieldConfig"]["defaults"]["thresholds"]["steps"] == [
        {"color": "green", "value": None}, {"color": "yellow", "value": 5}, {"color": "red", "value": 10}]
    assert panels["Sync performance"]["targets"][0]["format"] == "time_series"
    # Spec panel reads: our views.
    assert "FROM sync_monitoring" in panels["Sync status"]["targets"][0]["rawSql"]
    assert "FROM lead_analytics" in panels["Sync performance"]["targets"][0]["rawSql"]
    assert "FROM sync_monitoring" in panels["Error rate"]["targets"][0]["rawSql"]
    assert "FROM lead_sync_health_dashboard" in panels["Sync health"]["targets"][0]["rawSql"]


@pytest.mark.parametrize(
    ("title", "columns", "rows"),
    [
        ("Sync status", ["Status", "Leads"], [("synced", 0), ("pending", 0), ("error", 0), ("syncing", 0), ("conflict", 0)]),
        ("Error rate", ["Error rate"], [(None,)]),  # no leads: no rate, not 0 %
        ("Sync health", ["Overall health", "Success rate", "Leads in error"], [("unknown", None, 0)]),
        ("Sync performance", ["time", "Total leads", "Synced to Twenty"], []),
        ("Recent errors", ["Lead Name", "Error Message", "Error Count", "Last Sync"], []),
    ],
)
def test_every_panel_query_runs_on_our_schema(db, title, columns, rows):
    # An empty database: the SQL parses and plans against the migrated schema, and says "nothing yet".
    assert panel_columns_and_rows(title) == (columns, rows)


def test_panel_queries_on_hand_built_dataset(sync_dataset):
    ds = sync_dataset
    assert run_panel_sql("Sync status") == [("synced", 2), ("pending", 2), ("error", 2), ("syncing", 1), ("conflict", 1)]
    assert run_panel_sql("Error rate") == [(Decimal("25.00"),)]
    assert run_panel_sql("Sync health") == [("critical", Decimal("28.57"), 2)]
    assert run_panel_sql("Recent errors") == [
        ("Alan Turing", "Twenty API 429: rate limit exceeded", 7, ds.alan.last_synced_at),
        ("Katherine", "Twenty API 500: internal error", 2, ds.katherine.last_synced_at),
    ]
    performance = run_panel_sql("Sync performance")
    # All eight leads were created within the last 5 days: one point per UTC day, oldest first.
    assert sum(row[1] for row in performance) == 8
    assert sum(row[2] for row in performance) == 4  # ada, grace, edsger, donald have a twenty_id
    assert [row[0] for row in performance] == sorted(row[0] for row in performance)


@pytest.mark.parametrize(("title", "columns"), [
    ("Sync status", ["Status", "Leads"]),  # spec panel 1: grouped by sync_status, metric count
    ("Sync performance", ["time", "Total leads", "Synced to Twenty"]),  # spec panel 2: date; total_leads, synced_to_twenty
    ("Error rate", ["Error rate"]),
    ("Recent errors", ["Lead Name", "Error Message", "Error Count", "Last Sync"]),  # spec panel 4's columns
])
def test_panel_columns_are_the_specs(db, title, columns):
    assert panel_columns_and_rows(title)[0] == columns
