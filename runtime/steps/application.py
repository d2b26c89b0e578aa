"""The loan-application step, as Triton runs it: a BLS model that fans out to the other pipelines' models.

Only the Triton plumbing is here; the fan-out, deadlines and decision are finfer.application.fanout.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import orjson
import triton_python_backend_utils as pb_utils

from finfer.application.branches import BRANCHES
from finfer.application.decide import Status
from finfer.application.fanout import BranchError, evaluate
from finfer.application.policy import Outcome
from finfer.errors import InvalidArgument
from finfer.pipelines.application import PIPELINE
from finfer.pipelines.tensors import as_array, as_values
from finfer.runtime import in_process
from finfer.runtime.fused import Step, load_steps, run_steps
from finfer.runtime.tally import Tally


def _bytes(request, name):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return [] if tensor is None else [bytes(v) for v in tensor.as_numpy().ravel()]


# The stub runs each BLS `async_exec` in its event loop's default executor, a thread that waits for the
# branch. Python's default pool (cpu_count + 4 threads: 6 here) let 32 concurrent applications queue for
# threads, and a branch whose stub had died held its thread for seconds, starving every other branch.
BLS_THREADS = 128


class LoanApplication:
    def initialize(self, args):
        repository = Path(args["model_repository"]).parent
        # Validates the policy: a bad one fails the model's load, naming the key.
        self.codec = PIPELINE.load(repository)
        self.pool = None
        self.local: dict[str, list[Step]] = {}  # triton model → its steps, for the branches run here
        for branch in BRANCHES:
            version_dir = repository / branch.pipeline.triton_model / "1"
            if branch.in_process and (version_dir / in_process.PIPELINE_FILE).exists():
                self.local[branch.pipeline.triton_model] = load_steps(version_dir)
        # On Triton's own /metrics (port 8002), beside its per-model counters.
        self.branch_counts = pb_utils.MetricFamily(
            name="finfer_application_branches_total",
            description="Loan-application branches by how they went (ok, skipped, timeout, failed)",
            kind=pb_utils.MetricFamily.COUNTER,
        )
        self.decision_counts = pb_utils.MetricFamily(
            name="finfer_application_decisions_total",
            description="Loan-application decisions (approve, review, decline)",
            kind=pb_utils.MetricFamily.COUNTER,
        )
        # Every series from the start, so that rates and alerts see zeros rather than nothing.
        branch_series = {
            (b.name, status.value): self.branch_counts.Metric(labels={"branch": b.name, "status": status.value})
            for b in BRANCHES
            for status in Status
        }
        decision_series = {
            outcome.value: self.decision_counts.Metric(labels={"decision": outcome.value}) for outcome in Outcome
        }
        self.counts = Tally({**branch_series, **decision_series})

    async def infer(self, pipeline, encoded):
        arrays = {t.name: as_array(t.datatype, *encoded[t.name]) for t in pipeline.inputs}
        names = [t.name for t in pipeline.outputs]
        steps = self.local.get(pipeline.triton_model)
        if steps is not None:
            # In a thread, as a BLS call waits in one: the other branches go on meanwhile.
            found = await asyncio.get_running_loop().run_in_executor(None, run_steps, steps, arrays, names)
            return {name: as_values(found[name]) for name in names}
        request = pb_utils.InferenceRequest(
            model_name=pipeline.triton_model,
            requested_output_names=names,
            inputs=[pb_utils.Tensor(name, array) for name, array in arrays.items()],
        )
        response = await request.async_exec()
        if response.has_error():
            raise BranchError(response.error().message())
        return {name: as_values(pb_utils.get_output_tensor_by_name(response, name).as_numpy()) for name in names}

    async def answer(self, request):
        try:
            (wire,) = _bytes(request, "application")
            row = self.codec.from_tensors(wire, _bytes(request, "document_images"), _bytes(request, "vehicle_photos"))
        except InvalidArgument as error:
            return pb_utils.InferenceResponse(
                error=pb_utils.TritonError(error.message, pb_utils.TritonError.INVALID_ARG)
            )
        try:
            decision = await evaluate(self.codec, row, self.infer)
        except Exception as error:  # a bug here must answer this request, not take the model's others with it
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"loan_application: {error}"))
        self.counts.add(decision.decision)
        for branch, status in decision.branches.items():
            self.counts.add((branch, status))
        answer = np.array([orjson.dumps(decision)], dtype=object)
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("answer", answer)])

    def finalize(self):
        self.counts.close()

    async def execute(self, requests):
        if self.pool is None:
            self.pool = ThreadPoolExecutor(BLS_THREADS, thread_name_prefix="bls")
            asyncio.get_running_loop().set_default_executor(self.pool)
        return list(await asyncio.gather(*(self.answer(r) for r in requests)))
