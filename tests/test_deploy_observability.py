"""deploy/observability: promtool on the rules, and every metric name checked against the live servers."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml

from finfer import paths
from tests.helpers import fresh_applicant

DEPLOY = paths.PROJECT_ROOT / "deploy"
OBSERVABILITY = DEPLOY / "observability"
RULES = OBSERVABILITY / "rules.yml"
# Exported by Triton only where it sees a GPU (never in CI); names from Triton's metrics documentation.
GPU_ONLY = {"nv_gpu_utilization", "nv_gpu_memory_used_bytes", "nv_gpu_memory_total_bytes", "nv_gpu_power_usage"}
# Written by Prometheus itself for every scrape target.
PROMETHEUS_OWN = {"up"}
METRIC = re.compile(r"\b((?:nv|finfer)_[a-z0-9_]+)\b")
RECORDED = re.compile(r"\b(finfer:[a-z0-9_:]+)")
QUOTED = re.compile(r'"[^"]*"')


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed: run `make tools`")
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_rules_pass_promtool_check():
    result = promtool("check", "rules", str(RULES), cwd=OBSERVABILITY)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_fire_on_synthetic_series():
    result = promtool("test", "rules", "rules_test.yml", cwd=OBSERVABILITY)
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", (OBSERVABILITY / "rules_test.yml").read_text()))
    defined = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r}
    assert defined == tested, f"alerts without a promtool test: {defined - tested}"


def expressions() -> dict[str, list[str]]:
    """Every PromQL expression finfer ships, by where it is used."""
    found: dict[str, list[str]] = {}
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        found.setdefault("rules.yml", []).extend(rule["expr"] for rule in group["rules"])
    for dashboard in sorted((OBSERVABILITY / "dashboards").glob("*.json")):
        panels = json.loads(dashboard.read_text())["panels"]
        found[dashboard.name] = [t["expr"] for p in panels for t in p["targets"]]
    adapter = DEPLOY / "k8s" / "components" / "autoscaling-hpa" / "prometheus-adapter-values.yaml"
    rules = yaml.safe_load(adapter.read_text())["rules"]["custom"]
    found[adapter.name] = [r["seriesQuery"] for r in rules] + [r["metricsQuery"] for r in rules]
    keda = DEPLOY / "k8s" / "components" / "autoscaling-keda" / "triton-scaledobject.yaml"
    found[keda.name] = [t["metadata"]["query"] for t in yaml.safe_load(keda.read_text())["spec"]["triggers"]]
    return found


def exposed_names(text: str) -> set[str]:
    """Sample names a Prometheus scrape of this exposition yields, including label-less families."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            # A counter with labels but no sample yet shows only its TYPE line; its samples end in _total.
            suffixes = {
                "histogram": ["_bucket", "_sum", "_count"],
                "summary": ["", "_sum", "_count"],
                "counter": ["", "_total"],
            }
            names.update(name + s for s in suffixes.get(kind, [""]))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def test_every_metric_name_used_exists_on_the_live_servers(front, settings):
    # One scored request so that per-model series exist with their labels.
    request = urllib.request.Request(
        f"{front.http_url}/v1/risk/score",
        data=json.dumps(fresh_applicant()).encode(),
        headers={"content-type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).read()
    live = exposed_names(fetch(settings.triton_metrics_url)) | exposed_names(fetch(f"{front.http_url}/metrics"))
    missing = {}
    for where, exprs in expressions().items():
        used = {name for e in exprs for name in METRIC.findall(QUOTED.sub("", e))}
        assert used, f"{where}: no metric found, is the extraction broken?"
        absent = used - live - GPU_ONLY
        if absent:
            missing[where] = sorted(absent)
    assert not missing, f"metric names that neither Triton nor the front exports: {missing}"
    assert not GPU_ONLY & live, "Triton exported GPU metrics without a GPU: the allowlist is stale"


def test_recorded_series_used_are_defined_and_prometheus_own_names_are_known():
    defined = {r["record"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "record" in r}
    for where, exprs in expressions().items():
        used = {name for e in exprs for name in RECORDED.findall(e)}
        assert used <= defined, f"{where} uses undefined recording rules {used - defined}"
    alerts = " ".join(e for e in expressions()["rules.yml"])
    assert {w for w in re.findall(r"\b([a-z_]+)\{job=", alerts)} <= PROMETHEUS_OWN


def test_dashboards_are_grafana_json_with_unique_panels():
    for dashboard in sorted((OBSERVABILITY / "dashboards").glob("*.json")):
        board = json.loads(dashboard.read_text())
        assert board["uid"].startswith("finfer-")
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), dashboard.name
        for panel in board["panels"]:
            assert panel["targets"], f"{dashboard.name}: panel {panel['title']} has no query"
            assert panel["datasource"]["uid"] == "${datasource}"
