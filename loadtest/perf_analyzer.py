"""NVIDIA's perf_analyzer against the bench's Triton, beside the project's own Triton-direct scenarios.

perf_analyzer is the load generator SRE teams already trust; the bench reports both, and they should agree
within noise. It is the binary the `tritonclient==2.34.0` wheel carries (the registry's `perf-analyzer`
package is a placeholder). It needs Debian's libb64-0d and the CUDA runtime library of the
`nvidia-cuda-runtime-cu12` wheel, but no GPU. `make perf-analyzer` installs all three, in a virtual
environment of its own (.perf-analyzer/) so that its tritonclient stays apart from the project's.

Requests are the pipeline's own: generated bodies, encoded by its codec (`--input-data`, one entry a row).
Pipelines whose inputs are images are left out (their BYTES inputs would need perf_analyzer's own binary
framing); their Triton-direct scenarios (p, t) stand alone.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from finfer import paths
from finfer.pipelines.declaration import Pipeline
from finfer.pipelines.tensors import as_array

VENV = paths.PROJECT_ROOT / ".perf-analyzer"


def binary() -> Path | None:
    found = Path(os.environ.get("FINFER_PERF_ANALYZER", VENV / "bin" / "perf_analyzer"))
    return found if found.exists() else None


def _environment(executable: Path) -> dict[str, str]:
    site = next((executable.parent.parent / "lib").glob("python3*/site-packages"), None)
    libs = [str(site / "nvidia" / "cuda_runtime" / "lib")] if site else []
    return os.environ | {"LD_LIBRARY_PATH": ":".join([*libs, os.environ.get("LD_LIBRARY_PATH", "")])}


def input_data(pipeline: Pipeline, repository: Path, bodies: list, batched: bool) -> dict:
    """perf_analyzer's --input-data: each body's tensors as its codec encodes them (without the batch axis)."""
    codec = pipeline.load(repository)
    entries = []
    for body in bodies:
        encoded = codec.encode([codec.row(body)])
        try:
            entries.append(_entry(pipeline, encoded, batched))
        except UnicodeDecodeError:  # binary BYTES (an application's page): not expressible as JSON text
            continue
    return {"data": entries}


def _entry(pipeline: Pipeline, encoded: dict, batched: bool) -> dict:
    entry = {}
    for tensor in pipeline.inputs:
        if tensor.name not in encoded:
            continue
        array = as_array(tensor.datatype, *encoded[tensor.name])
        values = array.ravel().tolist()
        if tensor.datatype == "BYTES":
            values = [v.decode() if isinstance(v, bytes) else str(v) for v in values]
        elif array.dtype == np.bool_:
            values = [bool(v) for v in values]
        entry[tensor.name] = {"content": values, "shape": list(array.shape[1:] if batched else array.shape)}
    return entry


@dataclass(frozen=True)
class Measured:
    model: str
    concurrency: int
    inferences_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    queue_us: float
    compute_us: float  # input + infer + output, as perf_analyzer splits them

    def as_json(self) -> dict:
        return self.__dict__.copy()


def measure(
    executable: Path, model: str, grpc_url: str, data: Path, concurrency: int, work: Path, seconds: float = 5.0
) -> Measured:
    report = work / f"{model}-{concurrency}.csv"
    command = [
        str(executable),
        "-m",
        model,
        "-u",
        grpc_url,
        "-i",
        "grpc",
        "--input-data",
        str(data),
        "--concurrency-range",
        str(concurrency),
        "--measurement-interval",
        str(int(seconds * 1000)),
        "--percentile",
        "95",
        # Two cores shared with the server: perf_analyzer's default 10% between windows is rarely met.
        "--stability-percentage",
        "50",
        "-f",
        str(report),
    ]
    run = subprocess.run(command, capture_output=True, text=True, env=_environment(executable), timeout=300)
    if run.returncode != 0:
        raise RuntimeError(f"perf_analyzer on {model} failed: {(run.stderr or run.stdout).strip()[-800:]}")
    with report.open() as handle:
        (row,) = list(csv.DictReader(handle))
    compute = sum(float(row[k]) for k in ("Server Compute Input", "Server Compute Infer", "Server Compute Output"))
    return Measured(
        model=model,
        concurrency=concurrency,
        inferences_per_s=float(row["Inferences/Second"]),
        p50_ms=float(row["p50 latency"]) / 1000,
        p95_ms=float(row["p95 latency"]) / 1000,
        p99_ms=float(row["p99 latency"]) / 1000,
        queue_us=float(row["Server Queue"]),
        compute_us=compute,
    )


def run_all(
    pipelines: list[Pipeline], repository: Path, grpc_url: str, work: Path, concurrencies: tuple[int, ...]
) -> list[Measured]:
    """Every pipeline with non-image inputs at each concurrency; empty where perf_analyzer is not installed."""
    executable = binary()
    if executable is None:
        print("  perf_analyzer: not installed (`make perf-analyzer`); skipped", flush=True)
        return []
    work.mkdir(parents=True, exist_ok=True)
    found = []
    for pipeline in pipelines:
        if pipeline.body == "image" or not pipeline.is_built(repository):
            continue
        config = (repository / pipeline.triton_model / "config.pbtxt").read_text()
        batched = "max_batch_size: 0" not in config and "max_batch_size" in config
        data = work / f"{pipeline.name}.json"
        bodies = pipeline.examples(200, 31)
        data.write_text(json.dumps(input_data(pipeline, repository, bodies, batched)))
        for concurrency in concurrencies:
            try:
                measured = measure(executable, pipeline.triton_model, grpc_url, data, concurrency, work)
            except (RuntimeError, subprocess.TimeoutExpired) as error:  # one model's failure is reported, not fatal
                print(f"  perf_analyzer: {error}", flush=True)
                continue
            print(f"  perf_analyzer {measured}", flush=True)
            found.append(measured)
    return found
