"""`finfer bench --profile SCENARIO`: where a request's time goes, model by model and step by step.

Triton's statistics (`/v2/models/stats`) count, per model, the time requests waited in its queue, the
time spent moving inputs and outputs (the Python backend's shared-memory round trip, `compute_input` and
`compute_output`) and the time the model itself ran (`compute_infer`). A fused pipeline's steps run inside
one model, so they report their compute time on Triton's /metrics (`finfer_step_compute_seconds_total`).
Both are read before and after the scenario; the difference, per request, is the profile.
"""

from __future__ import annotations

import json
import re
import urllib.request
from dataclasses import dataclass

STAGES = ("queue", "compute_input", "compute_infer", "compute_output")
_STEP = re.compile(r"^finfer_step_compute_seconds_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class ModelTimes:
    requests: int
    executions: int  # batches: requests / executions is the mean batch
    ns: dict[str, int]  # stage → nanoseconds, summed over requests


def model_stats(http_url: str) -> dict[str, ModelTimes]:
    """Every loaded model's cumulative counts and times (all its versions together)."""
    with urllib.request.urlopen(f"{http_url}/v2/models/stats", timeout=10) as response:
        body = json.load(response)
    found: dict[str, ModelTimes] = {}
    for entry in body.get("model_stats", []):
        stats = entry.get("inference_stats", {})
        ns = {stage: int(stats.get(stage, {}).get("ns", 0)) for stage in STAGES}
        requests = int(stats.get("success", {}).get("count", 0))
        executions = int(entry.get("execution_count", 0))
        name = entry["name"]
        if name in found:
            old = found[name]
            ns = {k: ns[k] + old.ns[k] for k in STAGES}
            requests, executions = requests + old.requests, executions + old.executions
        found[name] = ModelTimes(requests, executions, ns)
    return found


def step_seconds(metrics_url: str) -> dict[tuple[str, str], float]:
    """(fused model, step) → seconds of compute, from Triton's /metrics."""
    with urllib.request.urlopen(f"{metrics_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = {}
    for match in _STEP.finditer(text):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group("labels")))
        found[labels.get("model", ""), labels.get("step", "")] = float(match.group("value"))
    return found


@dataclass(frozen=True)
class Snapshot:
    models: dict[str, ModelTimes]
    steps: dict[tuple[str, str], float]


def snapshot(http_url: str, metrics_url: str) -> Snapshot:
    return Snapshot(model_stats(http_url), step_seconds(metrics_url))


def markdown(before: Snapshot, after: Snapshot, scenario: str, front_cpu_us: float | None) -> str:
    """Per request of each model the scenario reached: queue, input/output transfer, compute; then the steps."""
    lines = [
        f"Profile of scenario {scenario} (µs per request of each model; Triton's statistics)",
        "",
        "| model | requests | mean batch | queue | inputs in | compute | outputs out |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, now in sorted(after.models.items()):
        then = before.models.get(name, ModelTimes(0, 0, dict.fromkeys(STAGES, 0)))
        requests, executions = now.requests - then.requests, now.executions - then.executions
        if requests <= 0:
            continue
        per = {stage: (now.ns[stage] - then.ns[stage]) / requests / 1000 for stage in STAGES}
        lines.append(
            f"| {name} | {requests:,} | {requests / max(executions, 1):.1f} | {per['queue']:.0f} | "
            f"{per['compute_input']:.0f} | {per['compute_infer']:.0f} | {per['compute_output']:.0f} |"
        )
    steps = []
    for (model, step), seconds in sorted(after.steps.items()):
        spent = seconds - before.steps.get((model, step), 0.0)
        reached = after.models.get(model)
        requests = reached.requests - before.models[model].requests if reached and model in before.models else 0
        if spent > 0 and requests > 0:
            steps.append(f"| {model} | {step} | {1e6 * spent / requests:.0f} |")
    if steps:
        lines += ["", "Inside fused pipelines:", "", "| model | step | compute µs per request |"]
        lines += ["| --- | --- | ---: |"]
        lines += steps
    if front_cpu_us is not None:
        lines += ["", f"The front's CPU per request in this scenario: {front_cpu_us:.0f} µs."]
    return "\n".join(lines) + "\n"
