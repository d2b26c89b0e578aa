"""What an application's answer holds: the decision and its reasons, how each branch went, and each branch's
result as its own endpoint answers it (fields derived from the branches, so adding one adds its field)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from finfer.application.branches import BRANCHES, Branch


@dataclass(frozen=True)
class DecisionReason:
    code: str
    text: str
    source: Annotated[str, Field(description="the branch it comes from, or `declared`")]


@dataclass(frozen=True)
class Decided:
    decision: Literal["approve", "review", "decline"]
    reasons: Annotated[list[DecisionReason], Field(description="declines first, then reviews; branch order within")]
    branches: Annotated[dict[str, str], Field(description="branch → ok | skipped | timeout | failed")]
    degraded: Annotated[bool, Field(description="a branch timed out or failed")]
    model_versions: Annotated[dict[str, str], Field(description="of the branches that answered")]
    policy_version: str
    branch_ms: Annotated[dict[str, float], Field(description="branch → milliseconds inside the pipeline")]


def _branch_field(branch: Branch) -> tuple[str, Any, Any]:
    """A branch's result in the answer: null when it did not answer, or a list (one per input, in request order)."""
    result = branch.pipeline.result
    if branch.per_input:
        described = Annotated[list[result], Field(description=f"one per {branch.name} input, in request order")]
        return branch.name, described, dataclasses.field(default_factory=list)
    return branch.name, result | None, None


ApplicationDecision = dataclasses.make_dataclass(
    "ApplicationDecision", [_branch_field(b) for b in BRANCHES], bases=(Decided,), frozen=True
)
ApplicationDecision.__module__ = __name__
ApplicationDecision.__doc__ = "The decision, why, and every branch's result (null or empty where it did not answer)."

ANSWER = TypeAdapter(ApplicationDecision)
