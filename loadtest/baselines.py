"""What `finfer bench` holds each pipeline against, measured in the same run as the served path.

- The plain baseline: a FastAPI endpoint, as most people first write one, that validates the same body
  with the pipeline's codec and runs the same step code in process per request, with no Triton and no
  batching. A serving platform that is not faster than this has no reason to exist.
  `python -m finfer.loadtest.baselines --pipeline risk --repository R --port P` serves it.
- The in-process ceiling: the same step code over batches of encoded rows, one process a core, nothing
  else: rows/s on all cores and CPU µs a row. Serving overhead is measured against it.

The steps are the ones Triton runs (runtime/steps, the shared ONNX runner), loaded from the repository by
the fused pipelines' own loader, so the baseline and Triton cannot drift apart.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import multiprocessing
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from finfer.pipelines.declaration import Pipeline
from finfer.pipelines.tensors import as_array, as_values
from finfer.pipelines.validation import Upload
from finfer.runtime.python_model import BatchedPythonModel

CEILING_BATCH = 64
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def served_config(repository: Path, pipeline: Pipeline) -> dict[str, Any]:
    """The config of the model Triton serves for `pipeline`, as the JSON Triton hands a Python model."""
    from google.protobuf import json_format

    from finfer.exporters import model_config

    parsed = model_config.parse((repository / pipeline.triton_model / "config.pbtxt").read_text())
    return json_format.MessageToDict(parsed, preserving_proto_field_name=True)


def served_model(repository: Path, pipeline: Pipeline) -> BatchedPythonModel:
    """The Python model Triton serves for `pipeline` (a fused pipeline or a Python step), in this process."""
    from finfer.runtime.fused import load_step

    return load_step(repository, pipeline.triton_model, 1, served_config(repository, pipeline))


def ceiling_batch(repository: Path, pipeline: Pipeline) -> int:
    return CEILING_BATCH if served_config(repository, pipeline).get("max_batch_size", 0) else 1


def _row_payload(pipeline: Pipeline, body: dict[str, Any]) -> object:
    if pipeline.body == "image":
        return Upload(base64.b64decode(body["image_base64"]), "image_base64")
    return body


def answer_rows(pipeline: Pipeline, codec: Any, model: BatchedPythonModel, rows: Sequence[object]) -> list[Any]:
    """Encode `rows` with the codec, run the steps once over them, decode: the pipeline's results."""
    encoded = codec.encode(rows)
    arrays = {t.name: as_array(t.datatype, *encoded[t.name]) for t in pipeline.inputs if t.name in encoded}
    outputs = model.compute(arrays)
    return codec.decode({t.name: as_values(np.asarray(outputs[t.name])) for t in pipeline.outputs}, rows)


def create_app(repository: Path, pipeline: Pipeline):
    from fastapi import FastAPI, HTTPException

    from finfer.errors import InvalidArgument

    codec = pipeline.load(repository)
    model = served_model(repository, pipeline)
    app = FastAPI(title=f"plain {pipeline.name} baseline")

    # A sync endpoint, as most people write it: FastAPI runs it in its thread pool, and onnxruntime and
    # XGBoost release the GIL, so requests use both cores.
    @app.post(pipeline.http_path)
    def answer(body: dict[str, Any]) -> dict:
        try:
            row = codec.row(_row_payload(pipeline, body))
        except InvalidArgument as error:
            raise HTTPException(400, error.message) from None
        (result,) = answer_rows(pipeline, codec, model, [row])
        return dataclasses.asdict(result)

    return app


def _ceiling_worker(repository: Path, name: str, seconds: float) -> tuple[int, float, float]:
    """(rows answered, CPU seconds, wall seconds) of one process running the steps over batches."""
    from finfer.pipelines.registry import BY_NAME

    pipeline = BY_NAME[name]
    codec = pipeline.load(repository)
    model = served_model(repository, pipeline)
    batch = ceiling_batch(repository, pipeline)
    bodies = pipeline.examples(batch * 8, 7)
    rows = [codec.row(_row_payload(pipeline, b)) for b in bodies]
    answer_rows(pipeline, codec, model, rows[:batch])  # warm-up: first-run allocations are not the steady state
    done, i = 0, 0
    cpu, start = time.process_time(), time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += len(answer_rows(pipeline, codec, model, rows[i : i + batch]))
        i = (i + batch) % len(rows)
    return done, time.process_time() - cpu, time.perf_counter() - start


def ceiling(repository: Path, pipeline: Pipeline, seconds: float = 3.0, processes: int | None = None) -> dict:
    """Rows/s of the pipeline's own steps in process, in batches, one process a core; and CPU µs a row."""
    from concurrent.futures import ProcessPoolExecutor

    processes = processes or os.cpu_count() or 1
    # One compute thread a process, as inside Triton (finfer/triton_server.py): the processes are the parallelism,
    # and a BLAS pool per process would spin on the other core for nothing.
    os.environ |= ONE_THREAD
    context = multiprocessing.get_context("spawn")  # fresh processes: no threads or sessions inherited
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        runs = [pool.submit(_ceiling_worker, repository, pipeline.name, seconds) for _ in range(processes)]
        found = [run.result() for run in runs]
    rows = sum(f[0] for f in found)
    return {
        "rows_per_s": rows / max(f[2] for f in found),
        "cpu_us_per_row": 1e6 * sum(f[1] for f in found) / rows,
        "processes": processes,
        "batch": ceiling_batch(repository, pipeline),
    }


def main() -> None:
    import uvicorn

    from finfer.pipelines.registry import BY_NAME

    parser = argparse.ArgumentParser(description="serve a pipeline's plain in-process FastAPI baseline")
    parser.add_argument("--pipeline", required=True)
    parser.add_argument("--repository", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = create_app(args.repository, BY_NAME[args.pipeline])
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
