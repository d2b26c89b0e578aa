"""Typed specs render through Triton's own ModelConfig protobuf."""

import pytest
from google.protobuf import json_format

from finfer.exporters import model_config
from finfer.exporters.base import onnx_spec
from finfer.exporters.model_config import DynamicBatching, Flavour, ModelSpec, Tensor

X = Tensor("features", "FP32", (61,))
Y = Tensor("probability_of_default", "FP32", (1,))


def test_python_spec_renders_batching_cache_and_instances():
    spec = ModelSpec(
        "m",
        (X,),
        (Y,),
        dynamic_batching=DynamicBatching((4, 16), 300),
        response_cache=True,
        parameters=(("k", "4"),),
    )
    parsed = model_config.parse(model_config.render(model_config.to_dict(spec)))
    assert parsed.backend == "python"
    assert parsed.max_batch_size == 256
    assert list(parsed.dynamic_batching.preferred_batch_size) == [4, 16]
    assert parsed.dynamic_batching.max_queue_delay_microseconds == 300
    assert parsed.response_cache.enable
    assert parsed.instance_group[0].kind == parsed.instance_group[0].KIND_CPU
    assert parsed.parameters["k"].string_value == "4"
    assert parsed.input[0].dims == [61]


def test_without_dynamic_batching_drops_the_scheduler():
    spec = ModelSpec("m", (X,), (Y,)).without_dynamic_batching()
    parsed = model_config.parse(model_config.render(model_config.to_dict(spec)))
    assert not parsed.HasField("dynamic_batching")


def test_native_onnx_spec_uses_onnxruntime_on_gpu_with_tensorrt():
    spec = onnx_spec("risk_model", (X,), (Y,), Flavour.NATIVE, tensorrt_precision="FP16")
    parsed = model_config.parse(model_config.render(model_config.to_dict(spec)))
    assert parsed.platform == "onnxruntime_onnx"
    assert parsed.backend == ""
    assert parsed.instance_group[0].kind == parsed.instance_group[0].KIND_GPU
    accelerator = parsed.optimization.execution_accelerators.gpu_execution_accelerator[0]
    assert accelerator.name == "tensorrt"
    assert accelerator.parameters["precision_mode"] == "FP16"


def test_embedded_onnx_spec_runs_in_the_python_backend():
    spec = onnx_spec("risk_model", (X,), (Y,), Flavour.EMBEDDED)
    assert spec.backend == "python" and spec.platform is None


def test_a_bad_config_fails_at_render_time():
    spec = ModelSpec("m", (Tensor("x", "FLOAT128", (1,)),), (Y,))
    with pytest.raises(json_format.ParseError):
        model_config.render(model_config.to_dict(spec))


def test_a_heavy_step_runs_in_the_background_embedded_and_under_the_rate_limiter_natively():
    spec = ModelSpec("m", (X,), (Y,), dynamic_batching=DynamicBatching((4,), 0))
    embedded = model_config.parse(model_config.render(model_config.to_dict(spec.as_heavy(Flavour.EMBEDDED))))
    assert "cpu_priority" not in embedded.parameters  # off by default: see ModelSpec.as_heavy
    assert not embedded.instance_group[0].HasField("rate_limiter")
    for flavour in (Flavour.NATIVE, Flavour.NATIVE_CPU):
        native = model_config.parse(model_config.render(model_config.to_dict(spec.as_heavy(flavour))))
        limiter = native.instance_group[0].rate_limiter
        assert [(r.name, r.count) for r in limiter.resources] == [(model_config.HEAVY_RESOURCE, 1)]
        assert limiter.priority == 2
        policy = native.dynamic_batching.default_queue_policy
        assert policy.timeout_action == policy.REJECT
        assert policy.max_queue_size == model_config.HEAVY_QUEUE_POLICY.max_queue_size
        assert policy.default_timeout_microseconds == model_config.HEAVY_QUEUE_POLICY.timeout_us
        assert "cpu_priority" not in native.parameters
