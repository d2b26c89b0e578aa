"""Deploy-time TensorRT engines: the exporter's hand-off and deploy/tensorrt/build_engines.py.

trtexec needs a GPU and TensorRT; CI has no GPU and TensorRT has no installable wheel, so these tests put a fake
`trtexec` on the command line: a script that writes an engine file, or fails. That is the one boundary
faked; the caching, the config swap and the fallback are the real code.
"""

from __future__ import annotations

import importlib.util
import json
import stat
import sys
from pathlib import Path

import pytest

from finfer import paths
from finfer.exporters import model_config
from finfer.exporters.base import onnx_spec, write_tensorrt_handoff
from finfer.exporters.model_config import Flavour, Tensor

SCRIPT = paths.PROJECT_ROOT / "deploy" / "tensorrt" / "build_engines.py"
X = Tensor("input_ids", "INT64", (32,))
Y = Tensor("logits", "FP32", (12,))


def load_script():
    spec = importlib.util.spec_from_file_location("build_engines", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


build_engines = load_script()


def repository_with_model(root: Path, inputs: tuple[Tensor, ...] = (X,)) -> Path:
    spec = onnx_spec("intent_encoder", inputs, (Y,), Flavour.NATIVE, tensorrt_precision="FP16", max_batch_size=64)
    folder = root / "repo" / spec.name
    (folder / "1").mkdir(parents=True)
    (folder / "1" / "model.onnx").write_bytes(b"onnx-bytes")
    (folder / "config.pbtxt").write_text(model_config.render(model_config.to_dict(spec)))
    write_tensorrt_handoff(folder, spec)
    return root / "repo"


def fake_trtexec(root: Path, succeed: bool = True) -> tuple[str, Path]:
    """A trtexec stand-in that logs its arguments and writes --saveEngine (or fails)."""
    calls = root / "trtexec-calls.log"
    script = root / "trtexec"
    action = (
        'for a in "$@"; do case "$a" in --saveEngine=*) echo plan > "${a#--saveEngine=}";; esac; done; exit 0'
        if succeed
        else "echo 'Error: unsupported operator' >&2; exit 1"
    )
    script.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n{action}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script), calls


@pytest.fixture(autouse=True)
def known_gpu(monkeypatch):
    monkeypatch.setattr(build_engines, "gpu_name", lambda: "NVIDIA-H100-80GB-HBM3")
    monkeypatch.setenv("TRT_VERSION", "10.5.0.18")


def test_native_handoff_pairs_an_onnx_config_with_a_plan_config(tmp_path):
    folder = repository_with_model(tmp_path) / "intent_encoder"
    onnx_config = model_config.parse((folder / "config.pbtxt").read_text())
    plan_config = model_config.parse((folder / "config.tensorrt.pbtxt").read_text())
    assert onnx_config.platform == "onnxruntime_onnx"
    assert plan_config.platform == "tensorrt_plan"
    assert not plan_config.optimization.execution_accelerators.gpu_execution_accelerator
    assert plan_config.input == onnx_config.input and plan_config.output == onnx_config.output
    assert plan_config.dynamic_batching == onnx_config.dynamic_batching
    handoff = json.loads((folder / "tensorrt.json").read_text())
    assert handoff == {
        "onnx": "1/model.onnx",
        "plan": "1/model.plan",
        "precision": "FP16",
        "max_batch_size": 64,
        "inputs": {"input_ids": [32]},
    }


def test_native_cpu_flavour_runs_on_cpu_without_tensorrt():
    spec = onnx_spec("intent_encoder", (X,), (Y,), Flavour.NATIVE_CPU, tensorrt_precision="FP16")
    parsed = model_config.parse(model_config.render(model_config.to_dict(spec)))
    assert parsed.platform == "onnxruntime_onnx"
    assert parsed.instance_group[0].kind == parsed.instance_group[0].KIND_CPU
    assert not parsed.HasField("optimization")


def test_an_engine_is_built_once_per_gpu_and_tensorrt_version_then_reused(tmp_path):
    repository = repository_with_model(tmp_path)
    trtexec, calls = fake_trtexec(tmp_path)
    cache = tmp_path / "cache"
    (outcome,) = build_engines.build_all(repository, cache, trtexec)
    assert outcome.status == "built"
    folder = repository / "intent_encoder"
    assert (folder / "1" / "model.plan").read_text() == "plan\n"
    assert model_config.parse((folder / "config.pbtxt").read_text()).platform == "tensorrt_plan"
    assert model_config.parse((folder / "config.onnx.pbtxt").read_text()).platform == "onnxruntime_onnx"
    (engine,) = (cache / "NVIDIA-H100-80GB-HBM3" / "10.5.0.18").glob("intent_encoder-*-fp16.plan")
    arguments = calls.read_text().split()
    assert "--fp16" in arguments
    assert "--minShapes=input_ids:1x32" in arguments and "--maxShapes=input_ids:64x32" in arguments

    # A new pod on the same node: a fresh copy of the repository, the engine comes from the cache.
    fresh = repository_with_model(tmp_path / "again")
    (outcome,) = build_engines.build_all(fresh, cache, trtexec)
    assert outcome.status == "cached" and outcome.detail == str(engine)
    assert len(calls.read_text().splitlines()) == 1


def test_another_tensorrt_version_builds_its_own_engine(tmp_path, monkeypatch):
    trtexec, calls = fake_trtexec(tmp_path)
    cache = tmp_path / "cache"
    build_engines.build_all(repository_with_model(tmp_path / "a"), cache, trtexec)
    monkeypatch.setenv("TRT_VERSION", "10.7.0")
    (outcome,) = build_engines.build_all(repository_with_model(tmp_path / "b"), cache, trtexec)
    assert outcome.status == "built"
    assert len(calls.read_text().splitlines()) == 2


def test_a_failed_build_falls_back_to_the_onnx_model(tmp_path):
    repository = repository_with_model(tmp_path)
    before = (repository / "intent_encoder" / "config.pbtxt").read_text()
    trtexec, _ = fake_trtexec(tmp_path, succeed=False)
    cache = tmp_path / "cache"
    (outcome,) = build_engines.build_all(repository, cache, trtexec)
    assert outcome.status == "fallback"
    assert "unsupported operator" in outcome.detail
    assert (repository / "intent_encoder" / "config.pbtxt").read_text() == before
    assert not (repository / "intent_encoder" / "1" / "model.plan").exists()
    assert not list(cache.rglob("*.plan")) and not list(cache.rglob("*partial*"))


def test_a_dynamic_non_batch_dim_is_not_guessed(tmp_path):
    repository = repository_with_model(tmp_path, inputs=(Tensor("input_ids", "INT64", (-1,)),))
    trtexec, calls = fake_trtexec(tmp_path)
    (outcome,) = build_engines.build_all(repository, tmp_path / "cache", trtexec)
    assert outcome.status == "fallback" and "dynamic dim" in outcome.detail
    assert not calls.exists()


def test_the_script_exits_zero_on_fallback_and_two_on_a_bad_repository(tmp_path):
    trtexec, _ = fake_trtexec(tmp_path, succeed=False)
    repository = repository_with_model(tmp_path)
    cache = str(tmp_path / "cache")
    assert build_engines.main(["--repository", str(repository), "--cache", cache, "--trtexec", trtexec]) == 0
    assert build_engines.main(["--repository", str(tmp_path / "nope"), "--cache", cache]) == 2
