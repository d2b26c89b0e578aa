"""`finfer drift report`: the drift window of a running front (or of a file of requests) as an HTML page with a
plot per drifted field, reference against current shares, because a reviewer would rather look than read."""

from __future__ import annotations

import base64
import html
import io
import json
import urllib.request
from pathlib import Path
from typing import Any

from finfer.front.drift import DriftMonitor
from finfer.pipelines.registry import BY_NAME

WARN, PAGE = 0.1, 0.25  # the alert rules' thresholds


def from_front(url: str, api_key: str | None = None) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    with urllib.request.urlopen(urllib.request.Request(f"{url}/v1/drift", headers=headers), timeout=10) as answer:
        return json.loads(answer.read())


def from_requests(repository: Path, pipeline: str, lines: list[str], window: int) -> dict[str, Any]:
    """The window a front would hold after these request bodies (JSON lines); inputs only, no model runs."""
    declared = BY_NAME[pipeline]
    codec = declared.load(repository)
    monitor = DriftMonitor.load(pipeline, repository / declared.meta, window, window)
    if monitor is None:
        raise FileNotFoundError(f"{pipeline}: the repository has no drift reference; rebuild it (finfer build --force)")
    for line in lines:
        if line.strip():
            monitor.observe(codec.drift_inputs(codec.row(json.loads(line))), None)
    return {pipeline: monitor.snapshot()}


def _plot(name: str, view: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    bins = view["bins"]
    figure, axes = pyplot.subplots(figsize=(7, 2.8))
    positions = range(len(bins))
    axes.bar([p - 0.2 for p in positions], view["reference"], width=0.4, label="training")
    axes.bar([p + 0.2 for p in positions], view["current"], width=0.4, label="current window")
    axes.set_xticks(list(positions), bins, rotation=35, ha="right", fontsize=7)
    axes.set_ylabel("share")
    axes.set_title(f"{name}: PSI {view['psi']:.3f}")
    axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    pyplot.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def render(windows: dict[str, Any]) -> str:
    parts = ["<!doctype html><meta charset=utf-8><title>finfer drift report</title>", "<h1>Drift report</h1>"]
    for pipeline, snapshot in windows.items():
        views = [(f"{kind[:-1]} {name}", v) for kind in ("inputs", "outputs") for name, v in snapshot[kind].items()]
        views.sort(key=lambda item: -item[1]["psi"])
        drifted = [(name, v) for name, v in views if v["psi"] >= WARN]
        parts.append(f"<h2>{html.escape(pipeline)}: {len(drifted)} of {len(views)} drifted (PSI ≥ {WARN})</h2>")
        parts.append("<table><tr><th>field</th><th>PSI</th><th>observed</th><th>state</th></tr>")
        for name, v in views:
            state = "shifted" if v["psi"] >= PAGE else "worth a look" if v["psi"] >= WARN else "stable"
            parts.append(
                f"<tr><td>{html.escape(name)}</td><td>{v['psi']:.3f}</td><td>{v['observed']}</td><td>{state}</td></tr>"
            )
        parts.append("</table>")
        for name, v in drifted:
            parts.append(f'<h3 class="drifted">{html.escape(name)}</h3>')
            parts.append(f'<img alt="{html.escape(name)}" src="data:image/png;base64,{_plot(name, v)}">')
    return "\n".join(parts) + "\n"
