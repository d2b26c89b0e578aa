"""`finfer capacity`: replicas for a request rate and mix, from what `finfer bench` measured.

Each replica is planned at `utilization` of its measured throughput (headroom for bursts and for the
p99), models that share a Triton replica add up their shares of it, and `spare` replicas on top keep
the service up while one is lost or rolled (availability), never fewer than `min_replicas`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SECONDS_A_DAY = 86_400
TIERS = ("triton", "front-miss", "front-hit")


@dataclass(frozen=True)
class Measured:
    tier: str
    model: str
    requests_per_s: float
    p99_ms: float


@dataclass(frozen=True)
class Demand:
    requests_per_s: float
    mix: dict[str, float]  # Triton pipeline -> share of requests
    cache_hit_ratio: float = 0.0


@dataclass(frozen=True)
class Line:
    tier: str
    model: str
    demand_per_s: float
    measured_per_s: float
    replica_share: float  # replicas' worth of capacity this model takes


@dataclass(frozen=True)
class Plan:
    triton_replicas: int
    front_replicas: int
    lines: list[Line]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def peak_requests_per_s(per_day: float, peak_factor: float) -> float:
    """Average daily volume to the peak rate to plan for (peak hour over average hour)."""
    return per_day / SECONDS_A_DAY * peak_factor


def load_measurements(bench_json: Path) -> list[Measured]:
    results = json.loads(bench_json.read_text())["results"]
    return [
        Measured(r["tier"], r["model"], r["requests_per_s"], r["p99_ms"])
        for r in results
        if r.get("tier") in TIERS and r.get("model") and r.get("requests_per_s", 0) > 0
    ]


def _replicas(share: float, spare: int, min_replicas: int) -> int:
    return max(min_replicas, math.ceil(share - 1e-9) + spare)


def plan(
    measured: list[Measured],
    demand: Demand,
    p99_target_ms: float = 200.0,
    utilization: float = 0.7,
    spare: int = 1,
    min_replicas: int = 2,
) -> Plan:
    if not 0 < utilization <= 1:
        raise ValueError(f"utilization: must be in (0, 1], got {utilization}")
    if not 0 <= demand.cache_hit_ratio < 1:
        raise ValueError(f"cache_hit_ratio: must be in [0, 1), got {demand.cache_hit_ratio}")
    if demand.requests_per_s < 0:
        raise ValueError(f"requests_per_s: must not be negative, got {demand.requests_per_s}")
    total_share = sum(demand.mix.values())
    if not demand.mix or abs(total_share - 1) > 1e-6 or min(demand.mix.values()) < 0:
        raise ValueError(f"mix: shares must be non-negative and add up to 1, got {demand.mix}")
    by_key = {(m.tier, m.model): m for m in measured}
    warnings = []

    def lookup(tier: str, model: str) -> Measured:
        found = by_key.get((tier, model))
        if found is None:
            known = sorted(m for t, m in by_key if t == tier)
            raise ValueError(f"no {tier} measurement for {model!r} in the bench results (measured: {known})")
        if found.p99_ms > p99_target_ms:
            warnings.append(
                f"{tier} {model}: p99 {found.p99_ms:.0f} ms at the bench's concurrency is over the "
                f"{p99_target_ms:.0f} ms target, so its throughput at the target is lower than planned here: "
                "rerun `finfer bench --concurrency` lower"
            )
        return found

    lines = []
    misses = demand.requests_per_s * (1 - demand.cache_hit_ratio)
    for model, share in sorted(demand.mix.items()):
        measured_model = lookup("triton", model)
        rate = misses * share
        lines.append(
            Line(
                "triton",
                model,
                rate,
                measured_model.requests_per_s,
                rate / (measured_model.requests_per_s * utilization),
            )
        )
    # The front is measured on the risk route; other routes cost it about the same (parse, cache, proxy).
    for tier, rate in (("front-miss", misses), ("front-hit", demand.requests_per_s - misses)):
        front = lookup(tier, "risk")
        lines.append(Line(tier, "risk", rate, front.requests_per_s, rate / (front.requests_per_s * utilization)))
    triton_share = sum(line.replica_share for line in lines if line.tier == "triton")
    front_share = sum(line.replica_share for line in lines if line.tier != "triton")
    return Plan(
        triton_replicas=_replicas(triton_share, spare, min_replicas),
        front_replicas=_replicas(front_share, spare, min_replicas),
        lines=lines,
        warnings=warnings,
    )


def render(result: Plan, demand: Demand) -> str:
    out = [
        f"demand: {demand.requests_per_s:,.1f} req/s, cache hit ratio {demand.cache_hit_ratio:.0%}, "
        f"mix {', '.join(f'{m}={s:g}' for m, s in sorted(demand.mix.items()))}",
        "",
        f"{'tier':<11} {'model':<14} {'demand/s':>10} {'measured/s':>11} {'replicas worth':>15}",
    ]
    for line in result.lines:
        out.append(
            f"{line.tier:<11} {line.model:<14} {line.demand_per_s:>10,.1f} {line.measured_per_s:>11,.0f} "
            f"{line.replica_share:>15.3f}"
        )
    out += ["", f"Triton replicas: {result.triton_replicas}", f"front replicas:  {result.front_replicas}"]
    out += [f"warning: {w}" for w in result.warnings]
    return "\n".join(out)
