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
    queue_policy: QueuePolicy | None = None


@dataclass(frozen=True)
class RateLimiter:
    """Triton's rate limiter for an instance group (served with `--rate-limit=execution_count`): an instance runs
    only while it holds `count` of each named resource; the server says how many of each there are
    (`--rate-limit-resource=NAME:COUNT`), so instances asking for the same one cannot all run at once."""

    resources: tuple[tuple[str, int], ...] = ()
    priority: int = 1  # among instances waiting for resources, priority 2 is given half the chances of 1


@dataclass(frozen=True)
class QueuePolicy:
    """The dynamic batcher's bound on waiting requests: past `max_queue_size`, or after `timeout_us` in the queue,
    a request is rejected (UNAVAILABLE, which the front answers with 503 and Retry-After)."""

    max_queue_size: int = 0  # 0: no bound
    timeout_us: int = 0  # 0: no timeout


@dataclass(frozen=True)
class InstanceGroup:
    count: int = 1
    kind: str = "KIND_CPU"
    rate_limiter: RateLimiter | None = None


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

    def as_heavy(self, flavour: Flavour) -> ModelSpec:
        """A step of a heavy family (pages, photos: seconds of CPU a request), kept from taking the cores or the
        device the light pipelines need. Embedded: its stub runs in the background CPU class
        (runtime/cpu_priority.py), so the operating system runs a light request's process first. Native:
        Triton's rate limiter lets at most `--rate-limit-resource=heavy:N` heavy instances run at once per
        device, and a batching step rejects work that waited past HEAVY_QUEUE_POLICY instead of piling it up."""
        if flavour is Flavour.EMBEDDED:
            # The background class (runtime/cpu_priority.py, `cpu_priority: background`) is not set by default: a
            # replica restarted under load in the chaos drill was not ready within 180 s with it (docs/isolation.md).
            return self
        group = replace(self.instance_group, rate_limiter=RateLimiter(resources=((HEAVY_RESOURCE, 1),), priority=2))
        batching = self.dynamic_batching
        if batching is not None:
            batching = replace(batching, queue_policy=HEAVY_QUEUE_POLICY)
        return replace(self, instance_group=group, dynamic_batching=batching)

    def as_tensorrt_plan(self) -> ModelSpec:
        """The config once a deploy-time `trtexec` has turned the ONNX model into `model.plan`."""
        return replace(self, backend=None, platform="tensorrt_plan", tensorrt_precision=None)


# The rate limiter's resource every heavy instance holds while it runs (native flavours).
HEAVY_RESOURCE = "heavy"
HEAVY_QUEUE_POLICY = QueuePolicy(max_queue_size=64, timeout_us=5_000_000)


def _instance_group(group: InstanceGroup) -> dict[str, Any]:
    out: dict[str, Any] = {"count": group.count, "kind": group.kind}
    if group.rate_limiter is not None:
        resources = [{"name": name, "count": count} for name, count in group.rate_limiter.resources]
        out["rate_limiter"] = {"resources": resources, "priority": group.rate_limiter.priority}
    return out


def _tensor(t: Tensor) -> dict[str, Any]:
    tensor = {"name": t.name, "data_type": f"TYPE_{t.data_type}", "dims": list(t.dims)}
    return tensor | {"optional": True} if t.optional else tensor


def to_dict(spec: ModelSpec) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": spec.name,
        "max_batch_size": spec.max_batch_size,
        "input": [_tensor(t) for t in spec.inputs],
        "output": [_tensor(t) for t in spec.outputs],
        "instance_group": [_instance_group(spec.instance_group)],
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
        if batching.queue_policy is not None:
            policy = batching.queue_policy
            config["dynamic_batching"]["default_queue_policy"] = {
                "timeout_action": "REJECT",
                "default_timeout_microseconds": policy.timeout_us,
                "max_queue_size": policy.max_queue_size,
            }
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
