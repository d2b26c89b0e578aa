"""One application through every branch at once, each under its deadline, then the decision.

`infer(pipeline, encoded)` is the only way out (Triton's async BLS inside `loan_application`), so
this runs, and is tested, without a server. A branch that errs or is late becomes a status in the
answer; the others still answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from finfer.application.answer import ApplicationDecision, DecisionReason
from finfer.application.branches import BRANCHES
from finfer.application.decide import Branches, Status, decide
from finfer.application.request import ApplicationRow
from finfer.pipelines.application import ApplicationCodec
from finfer.pipelines.declaration import Codec, Encoded, Outputs, Pipeline

Infer = Callable[[Pipeline, Encoded], Awaitable[Outputs]]


class BranchError(RuntimeError):
    """A branch's model answered an error; the message is Triton's."""


@dataclass(frozen=True)
class BranchRun:
    status: Status
    results: list[Any]
    ms: float
    error: str | None = None


async def run_branch(
    pipeline: Pipeline, codec: Codec, rows: Sequence[Any], infer: Infer, deadline_s: float
) -> BranchRun:
    """All of one branch's rows: one request, or one each (in parallel) where the model takes one a request."""
    if not rows:
        return BranchRun(Status.SKIPPED, [], 0.0)
    groups = [[row] for row in rows] if pipeline.one_per_request else [list(rows)]

    async def call(group: list[Any]) -> list[Any]:
        return codec.decode(await infer(pipeline, codec.encode(group)), group)

    started = time.perf_counter()
    try:
        parts = await asyncio.wait_for(asyncio.gather(*(call(g) for g in groups)), deadline_s)
    except asyncio.TimeoutError:  # noqa: UP041 - not the builtin TimeoutError on Python 3.10 (the Triton image)
        return BranchRun(Status.TIMEOUT, [], _ms(started))
    except BranchError as error:
        return BranchRun(Status.FAILED, [], _ms(started), str(error))
    except Exception as error:  # a branch's answer that does not decode is that branch's failure, not the application's
        return BranchRun(Status.FAILED, [], _ms(started), f"{type(error).__name__}: {error}")
    return BranchRun(Status.OK, [result for part in parts for result in part], _ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


async def evaluate(codec: ApplicationCodec, row: ApplicationRow, infer: Infer) -> ApplicationDecision:
    policy = codec.policy
    runs = await asyncio.gather(
        *(
            run_branch(
                b.pipeline, codec.branches[b.name], row.branch_rows(b.name), infer, policy.branch(b.name).deadline_s
            )
            for b in BRANCHES
        )
    )
    by_name = {b.name: run for b, run in zip(BRANCHES, runs, strict=True)}
    # Each branch's results as the answer holds them: one per input, or the one result (None: it did not answer).
    results = {
        b.name: by_name[b.name].results if b.per_input else next(iter(by_name[b.name].results), None) for b in BRANCHES
    }
    kinds = [kind for kind, _ in row.documents]
    branches = Branches(
        status={name: run.status for name, run in by_name.items()},
        errors={name: run.error for name, run in by_name.items() if run.error},
        **{**results, "documents": list(zip(kinds, results["documents"], strict=False))},
    )
    decision = decide(policy, row.declared, branches)
    return ApplicationDecision(
        decision=decision.decision.value,
        reasons=[DecisionReason(f.code, f.text, f.source) for f in decision.reasons],
        branches={name: run.status.value for name, run in by_name.items()},
        degraded=any(run.status in (Status.TIMEOUT, Status.FAILED) for run in runs),
        model_versions={
            name: codec.branches[name].model_version for name, run in by_name.items() if run.status is Status.OK
        },
        policy_version=policy.version,
        branch_ms={name: run.ms for name, run in by_name.items() if run.status is not Status.SKIPPED},
        **results,
    )
