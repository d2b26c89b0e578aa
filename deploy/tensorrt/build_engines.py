"""Build TensorRT engines for a finfer model repository on the GPU node that will serve it.

Runs as an init container in NGC's TensorRT image (the same release as the Triton image, so the plan
matches Triton's TensorRT), before Triton starts. For every model folder with a `tensorrt.json`
(written by `finfer build --flavour native` for models that declare a TensorRT precision):

- the engine is looked up in the cache volume under <GPU model>/<TensorRT version>/, keyed by the
  ONNX file's hash and the precision, and built with `trtexec` when it is not there;
- on success the plan goes to `<model>/1/model.plan` and `config.tensorrt.pbtxt` replaces `config.pbtxt`;
- on any failure the model keeps its ONNX config and the pod still starts: a slower model beats none.

Standard library only: the TensorRT image has Python but none of finfer's packages.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PRECISION_FLAGS = {"FP32": [], "FP16": ["--fp16"], "INT8": ["--int8", "--fp16"]}


@dataclass(frozen=True)
class Outcome:
    model: str
    status: str  # "built", "cached", "fallback"
    detail: str


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-") or "unknown"


def gpu_name() -> str:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown-gpu"
    return slug(out.splitlines()[0]) if out.strip() else "unknown-gpu"


def tensorrt_version() -> str:
    # NGC's TensorRT images set TRT_VERSION; elsewhere ask the library.
    if os.environ.get("TRT_VERSION"):
        return slug(os.environ["TRT_VERSION"])
    try:
        import tensorrt

        return slug(tensorrt.__version__)
    except ImportError:
        return "unknown-trt"


def shape_arguments(inputs: dict[str, list[int]], max_batch_size: int) -> list[str]:
    """trtexec's optimisation profile: batch 1 to the model's max, the other dims as exported.

    Raises ValueError for a dynamic non-batch dim, which needs ranges nobody has declared.
    """
    if max_batch_size < 1:
        raise ValueError("models without a batch dimension are not converted")
    profile = {"min": 1, "opt": max(1, max_batch_size // 4), "max": max_batch_size}
    arguments = []
    for key, batch in profile.items():
        shapes = []
        for name, dims in inputs.items():
            if any(d < 0 for d in dims):
                raise ValueError(f"input {name} has a dynamic dim {dims}: declare its range first")
            shapes.append(f"{name}:" + "x".join(str(d) for d in (batch, *dims)))
        arguments.append(f"--{key}Shapes=" + ",".join(shapes))
    return arguments


def engine_path(cache: Path, gpu: str, trt: str, model: str, onnx: Path, precision: str) -> Path:
    digest = hashlib.sha256(onnx.read_bytes()).hexdigest()[:16]
    return cache / gpu / trt / f"{model}-{digest}-{precision.lower()}.plan"


def build_one(folder: Path, cache: Path, gpu: str, trt: str, trtexec: str, timeout_s: float) -> Outcome:
    handoff = json.loads((folder / "tensorrt.json").read_text())
    precision = str(handoff.get("precision") or "FP16").upper()
    onnx = folder / handoff["onnx"]
    if precision not in PRECISION_FLAGS:
        return Outcome(folder.name, "fallback", f"unknown precision {precision}")
    if not onnx.exists():
        return Outcome(folder.name, "fallback", f"{onnx} is missing")
    try:
        shapes = shape_arguments(handoff["inputs"], int(handoff["max_batch_size"]))
    except ValueError as exc:
        return Outcome(folder.name, "fallback", str(exc))

    engine = engine_path(cache, gpu, trt, folder.name, onnx, precision)
    status = "cached"
    if not engine.exists():
        engine.parent.mkdir(parents=True, exist_ok=True)
        partial = engine.with_suffix(f".partial-{os.getpid()}")
        command = [trtexec, f"--onnx={onnx}", f"--saveEngine={partial}", *PRECISION_FLAGS[precision], *shapes]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        except (OSError, subprocess.TimeoutExpired) as exc:
            partial.unlink(missing_ok=True)
            return Outcome(folder.name, "fallback", f"trtexec did not run: {exc}")
        if result.returncode != 0 or not partial.exists():
            partial.unlink(missing_ok=True)
            tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
            return Outcome(folder.name, "fallback", f"trtexec exited {result.returncode}: " + " | ".join(tail))
        # Rename last so that a pod killed mid-build never leaves a truncated engine in the cache.
        partial.replace(engine)
        status = "built"

    plan = folder / handoff["plan"]
    shutil.copyfile(engine, plan)
    shutil.copyfile(folder / "config.pbtxt", folder / "config.onnx.pbtxt")
    shutil.copyfile(folder / "config.tensorrt.pbtxt", folder / "config.pbtxt")
    return Outcome(folder.name, status, str(engine))


def build_all(repository: Path, cache: Path, trtexec: str = "trtexec", timeout_s: float = 1800) -> list[Outcome]:
    gpu, trt = gpu_name(), tensorrt_version()
    outcomes = []
    for handoff in sorted(repository.glob("*/tensorrt.json")):
        outcome = build_one(handoff.parent, cache, gpu, trt, trtexec, timeout_s)
        print(f"[tensorrt] {outcome.model}: {outcome.status} ({outcome.detail})", flush=True)
        outcomes.append(outcome)
    if not outcomes:
        print(f"[tensorrt] no model in {repository} asks for a TensorRT engine", flush=True)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path, required=True, help="the model repository (writable copy)")
    parser.add_argument("--cache", type=Path, required=True, help="engine cache volume")
    parser.add_argument("--trtexec", default="trtexec")
    parser.add_argument("--timeout-s", type=float, default=1800, help="per engine")
    args = parser.parse_args(argv)
    if not args.repository.is_dir():
        print(f"[tensorrt] {args.repository} is not a directory", file=sys.stderr)
        return 2
    build_all(args.repository, args.cache, args.trtexec, args.timeout_s)
    return 0  # fallbacks are reported, never fatal


if __name__ == "__main__":
    sys.exit(main())
