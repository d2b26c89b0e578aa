"""The branches of a loan application, stated once: each is a served pipeline, in the order reasons are reported.

Everything that walks the branches (the request's rows, the fan-out, the answer's fields, its gRPC twin, the
record, the policy's `[branches.<name>]` keys) iterates this tuple. What a branch's result means for the
decision is the policy's and the cross-checks' business, and they name the branches they judge.
"""

from __future__ import annotations

from dataclasses import dataclass

from finfer.pipelines import damage, documents, fraud, intent, risk
from finfer.pipelines.declaration import Pipeline


@dataclass(frozen=True)
class Branch:
    pipeline: Pipeline
    # One answer per input, in request order (pages, photos); otherwise one answer at most.
    per_input: bool = False
    # Light and stateless: where the build fused the pipeline (the embedded flavour), the application runs its
    # steps in its own process rather than calling its model. A BLS call cost the application's stub about
    # 1.8 ms of CPU, and the called stub and the server 1.5 ms more, against risk's 0.1 ms of compute. Fraud
    # (a shared graph that moves), pages and photos (heavy: they keep their own instances) are called.
    in_process: bool = False

    @property
    def name(self) -> str:
        return self.pipeline.name


BRANCHES: tuple[Branch, ...] = (
    Branch(risk.PIPELINE, in_process=True),
    Branch(fraud.PIPELINE),
    Branch(documents.PIPELINE, per_input=True),
    Branch(damage.PIPELINE, per_input=True),
    Branch(intent.PIPELINE, in_process=True),
)
BRANCH_NAMES = tuple(b.name for b in BRANCHES)  # what the policy's [branches.<name>] may name
