"""The Prometheus side: the portal's /metrics passes `promtool check metrics`, and the shipped
recording and alerting rules pass `promtool check rules` and their own unit tests
(`promtool test rules`), which fire each alert on made-up series and keep it quiet otherwise."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from monitoring.models import JobRun

RULES_DIR = Path(__file__).resolve().parents[1] / "integrations" / "prometheus"
PROMTOOL = shutil.which("promtool")

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="needs promtool (Debian: apt-get install prometheus)"
)


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], cwd=RULES_DIR, input=stdin, capture_output=True, text=True, timeout=60)


@needs_promtool
def test_metrics_pass_promtool_check_metrics(client, sync_dataset):
    exposition = client.get(reverse("monitoring:prometheus-metrics")).content.decode()
    result = promtool("check", "metrics", stdin=exposition)
    # promtool prints nothing when every family follows the conventions it lints.
    assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr.strip() == "", (
        result.stdout + result.stderr)


@needs_promtool
def test_rules_and_config_pass_promtool_check():
    rules = promtool("check", "rules", "leadsync-rules.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 13 rules found" in rules.stdout
    config = promtool("check", "config", "--syntax-only", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


@needs_promtool
def test_alerts_fire_where_they_should_and_nowhere_else():
    result = promtool("test", "rules", "leadsync-rules.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alerts_read_no_recorded_series():
    """Prometheus evaluates rule groups concurrently: an alert that read a record of the recording
    group saw, now and then, the previous evaluation's value (CI: no LeadSyncStalled at 31m)."""
    groups = yaml.safe_load((RULES_DIR / "leadsync-rules.yml").read_text())["groups"]
    recorded = {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}
    assert recorded  # the recording rules exist, for dashboards
    reads = {rule["alert"]: sorted(name for name in recorded if name in rule["expr"])
             for group in groups for rule in group["rules"] if "alert" in rule}
    assert {alert: names for alert, names in reads.items() if names} == {}


@needs_promtool
def test_the_rule_tests_can_fail(tmp_path):
    """A failure-rate threshold moved from 10 % to 20 % must break the unit tests (12 % no longer
    fires): the tests check the rules, they do not merely run."""
    rules = (RULES_DIR / "leadsync-rules.yml").read_text().replace("> 0.10", "> 0.20")
    (tmp_path / "leadsync-rules.yml").write_text(rules)
    shutil.copy(RULES_DIR / "leadsync-rules.test.yml", tmp_path)
    result = subprocess.run([PROMTOOL, "test", "rules", "leadsync-rules.test.yml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "LeadSyncFailureRateHigh" in result.stdout + result.stderr


def test_rules_read_only_metrics_the_portal_exposes(client, sync_dataset):
    """Every leadsync_* name in the rules is a family /metrics serves (or a counter's _total)."""
    JobRun.objects.create(task_name="monitoring.evaluate_alerts", started_at=timezone.now(), outcome="succeeded")
    exposition = client.get(reverse("monitoring:prometheus-metrics")).content.decode()
    served = set()
    for family in text_string_to_metric_families(exposition):
        served |= {sample.name for sample in family.samples}
    text = (RULES_DIR / "leadsync-rules.yml").read_text()
    groups = yaml.safe_load(text)["groups"]
    used = set()
    for group in groups:
        for rule in group["rules"]:
            used |= set(re.findall(r"(?<![:\w])(leadsync_[a-z_]+)", rule["expr"]))
    # The _total counters come from the rollups (attempt_totals); until they are served, the
    # rate rules simply record nothing.
    missing = {name for name in used - served if not name.endswith("_total")}
    assert not missing, missing


# ---- the Grafana dashboard over Prometheus ----------------------------------------------------

GRAFANA = RULES_DIR.parent / "grafana"


def _prometheus_dashboard() -> dict:
    import json

    return json.loads((GRAFANA / "dashboards" / "lead-sync-prometheus.json").read_text())


def test_prometheus_dashboard_reads_the_provisioned_prometheus_datasource():
    source = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "leadsync-prometheus.yaml").read_text())
    (datasource,) = source["datasources"]
    assert (datasource["type"], datasource["uid"], datasource["url"]) == (
        "prometheus", "leadsync-prometheus", "${LEADSYNC_PROMETHEUS_URL}")
    dashboard = _prometheus_dashboard()
    assert dashboard["uid"] == "leadsync-prometheus" and dashboard["uid"] != "leadsync-monitoring"
    titles = [panel["title"] for panel in dashboard["panels"]]
    assert len(titles) == len(set(titles)) == 8
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": "leadsync-prometheus"}, panel["title"]


@needs_promtool
def test_every_dashboard_query_is_valid_promql_over_served_metrics(tmp_path, client, sync_dataset):
    """promtool parses each panel's expression (as a recording rule), and every leadsync_* name
    in them is served by /metrics (the _total counters come from the rollups)."""
    JobRun.objects.create(task_name="monitoring.evaluate_alerts", started_at=timezone.now(), outcome="failed")
    exprs = [target["expr"] for panel in _prometheus_dashboard()["panels"] for target in panel["targets"]]
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{number}", "expr": expr} for number, expr in enumerate(exprs)]}]}
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump(rules))
    result = subprocess.run([PROMTOOL, "check", "rules", "dashboard.yml"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    exposition = client.get(reverse("monitoring:prometheus-metrics")).content.decode()
    served = {sample.name for family in text_string_to_metric_families(exposition) for sample in family.samples}
    used = {name for expr in exprs for name in re.findall(r"(?<![:\w])(leadsync_[a-z_]+)", expr)}
    assert not {name for name in used - served if not name.endswith("_total")}
