"""Typed model configs, rendered through Triton's own ModelConfig protobuf.

Rendering through the protobuf means a misspelt field or a bad enum fails at export time, not
when Triton loads the repository.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2


class Flavour(StrEnum):
    """Where the repository runs.

    embedded: the pytriton wheel's Triton (Python backend only). native: the NGC tritonserver image
    on GPU nodes. native-cpu: the same image on CPU-only nodes (the `cpu` Kubernetes overlay).
    """

    EMBEDDED = "embedded"
    NATIVE = "native"
    NATIVE_CPU = "native-cpu"

    @property
    def gpu(self) -> bool:
        return self is Flavour.NATIVE


@dataclass(frozen=True)
class Tensor:
    name: str
    data_type: str  # Triton's name without the TYPE_ prefix: FP32, INT64, STRING
    dims: tuple[int, ...]
    optional: bool = False  # a request may leave it out (Python backend: the step reads None)


@dataclass(frozen=True)
class DynamicBatching:
    """Triton's dynamic batcher. The default waits for nothing: a request arriving alone would otherwise wait
    out the whole delay at every batching step, and under load batches still form while an instance is busy.
    A delay (and preferred sizes, which cut batches down to them) only where the latency budget allows it."""

    preferred_batch_size: tuple[int, ...] = ()
    max_queue_delay_microseconds: int = 0


@dataclass(frozen=True)
class InstanceGroup:
    count: int = 1
    kind: str = "KIND_CPU"


@dataclass(frozen=True)
class ModelSpec:
    """One model folder: what a step of a pipeline is, independent of how it is run."""

    name: str
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    max_batch_size: int = 256
    backend: str | None = "python"
    platform: str | None = None
    dynamic_batching: DynamicBatching | None = field(default_factory=DynamicBatching)
    instance_group: InstanceGroup = field(default_factory=InstanceGroup)
    response_cache: bool = False
    parameters: tuple[tuple[str, str], ...] = ()
    default_model_filename: str | None = None
    # Native flavour on GPUs: let Triton's onnxruntime backend build TensorRT engines ("FP16", "INT8").
    tensorrt_precision: str | None = None

    def without_dynamic_batching(self) -> ModelSpec:
        return replace(self, dynamic_batching=None)

    def as_tensorrt_plan(self) -> ModelSpec:
        """The config once a deploy-time `trtexec` has turned the ONNX model into `model.plan`."""
        return replace(self, backend=None, platform="tensorrt_plan", tensorrt_precision=None)


def _tensor(t: Tensor) -> dict[str, Any]:
    tensor = {"name": t.name, "data_type": f"TYPE_{t.data_type}", "dims": list(t.dims)}
    return tensor | {"optional": True} if t.optional else tensor


def to_dict(spec: ModelSpec) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": spec.name,
        "max_batch_size": spec.max_batch_size,
        "input": [_tensor(t) for t in spec.inputs],
        "output": [_tensor(t) for t in spec.outputs],
        "instance_group": [{"count": spec.instance_group.count, "kind": spec.instance_group.kind}],
        # Every version folder is loaded: candidates (`finfer build --version N`) serve beside version 1,
        # which the ensembles pin (Triton's default loads only the latest).
        "version_policy": {"all": {}},
    }
    if spec.backend:
        config["backend"] = spec.backend
    if spec.platform:
        config["platform"] = spec.platform
    if spec.default_model_filename:
        config["default_model_filename"] = spec.default_model_filename
    if spec.dynamic_batching is not None and spec.max_batch_size > 0:
        batching = spec.dynamic_batching
        config["dynamic_batching"] = {
            "max_queue_delay_microseconds": batching.max_queue_delay_microseconds,
        } | ({"preferred_batch_size": list(batching.preferred_batch_size)} if batching.preferred_batch_size else {})
    if spec.response_cache:
        config["response_cache"] = {"enable": True}
    if spec.tensorrt_precision:
        accelerator = {"name": "tensorrt", "parameters": {"precision_mode": spec.tensorrt_precision}}
        config["optimization"] = {"execution_accelerators": {"gpu_execution_accelerator": [accelerator]}}
    if spec.parameters:
        config["parameters"] = {k: {"string_value": v} for k, v in spec.parameters}
    return config


def to_protobuf(config: dict[str, Any]) -> model_config_pb2.ModelConfig:
    return json_format.ParseDict(config, model_config_pb2.ModelConfig())


def render(config: dict[str, Any]) -> str:
    """config.pbtxt text for a config dict; raises ParseError on anything Triton would reject."""
    return text_format.MessageToString(to_protobuf(config))


def parse(text: str) -> model_config_pb2.ModelConfig:
    return text_format.Parse(text, model_config_pb2.ModelConfig())
