"""`finfer bench --compare BASELINE`: each scenario's cost beside the committed baseline's, regressions flagged.

Cost is the serving processes' CPU µs per request (front and Triton; the load generator's own share is left
out) and the p50 latency. A scenario more than `bound` worse on either is flagged. It is a benchmark, read by
people and by the closing notes of changes to a served path, not a timed test: nothing in CI runs it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVING_PROCESSES = ("front", "triton")
BOUND = 0.25


@dataclass(frozen=True)
class Comparison:
    scenario: str
    description: str
    cpu_us: float | None  # serving CPU µs per request now
    cpu_us_before: float | None
    p50_ms: float | None
    p50_ms_before: float | None

    @staticmethod
    def _ratio(now: float | None, before: float | None) -> float | None:
        return now / before if now is not None and before else None

    @property
    def cpu_ratio(self) -> float | None:
        return self._ratio(self.cpu_us, self.cpu_us_before)

    @property
    def p50_ratio(self) -> float | None:
        return self._ratio(self.p50_ms, self.p50_ms_before)

    def worse(self, bound: float = BOUND) -> bool:
        return any(r is not None and r > 1 + bound for r in (self.cpu_ratio, self.p50_ratio))


def serving_cpu_us(result: dict[str, Any]) -> float:
    return sum(result.get("cpu_us_per_request", {}).get(p, 0.0) for p in SERVING_PROCESSES)


def load_results(path: Path) -> dict[str, dict[str, Any]]:
    """A bench results file's scenarios by letter."""
    return {r["scenario"]: r for r in json.loads(path.read_text())["results"]}


def compare(now: dict[str, dict[str, Any]], before: dict[str, dict[str, Any]]) -> list[Comparison]:
    """Every scenario of either run; one measured in only one of them has no ratio."""
    rows = []
    for scenario in sorted(now.keys() | before.keys()):
        a, b = now.get(scenario), before.get(scenario)
        rows.append(
            Comparison(
                scenario=scenario,
                description=(a or b or {}).get("description", ""),
                cpu_us=serving_cpu_us(a) if a else None,
                cpu_us_before=serving_cpu_us(b) if b else None,
                p50_ms=a["p50_ms"] if a else None,
                p50_ms_before=b["p50_ms"] if b else None,
            )
        )
    return rows


def _number(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def markdown(rows: list[Comparison], baseline: Path, bound: float = BOUND) -> str:
    lines = [
        f"Against {baseline} (serving CPU = front + Triton, µs per request; flagged: more than {bound:.0%} worse)",
        "",
        "| scenario | what | CPU µs/req | before | ratio | p50 ms | before | ratio | |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        flag = "**worse**" if r.worse(bound) else ""
        lines.append(
            f"| {r.scenario} | {r.description} | {_number(r.cpu_us, 0)} | {_number(r.cpu_us_before, 0)} | "
            f"{_ratio(r.cpu_ratio)} | {_number(r.p50_ms, 2)} | {_number(r.p50_ms_before, 2)} | "
            f"{_ratio(r.p50_ratio)} | {flag} |"
        )
    return "\n".join(lines) + "\n"
