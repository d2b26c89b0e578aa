"""The registry and the contracts it states: declarations, the proto, the ensembles and their steps agree."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from finfer import paths
from finfer.exporters import model_config
from finfer.exporters.base import pipeline_steps
from finfer.pipelines.declaration import Answer, Stored, response_models, splice
from finfer.pipelines.registry import REGISTRY
from finfer.pipelines.validation import Upload
from finfer.wire import finfer_pb2

# KServe v2 datatypes on the wire against the config's data types.
WIRE = {"BYTES": "TYPE_STRING", "FP32": "TYPE_FP32", "INT64": "TYPE_INT64", "BOOL": "TYPE_BOOL"}
NAMES = [p.name for p in REGISTRY]


def test_the_registry_lists_each_pipeline_once():
    for attribute in ("name", "triton_model", "family", "http_path", "meta"):
        values = [getattr(p, attribute) for p in REGISTRY]
        assert len(set(values)) == len(values), attribute


@pytest.mark.parametrize("pipeline", REGISTRY, ids=NAMES)
def test_the_declared_grpc_methods_exist_in_the_proto(pipeline):
    service = finfer_pb2.DESCRIPTOR.services_by_name[pipeline.grpc_service]
    methods = [pipeline.grpc_method] + ([pipeline.batch.grpc_method] if pipeline.batch else [])
    for name in methods:
        method = service.methods_by_name[name]
        assert hasattr(finfer_pb2, method.input_type.name) and hasattr(finfer_pb2, method.output_type.name)
    # Every field of the declared result is a field of the gRPC response, and so is the envelope.
    response = service.methods_by_name[pipeline.grpc_method].output_type
    single, _ = response_models(pipeline)
    assert set(single.model_fields) <= set(response.fields_by_name)


def test_an_answer_is_the_result_then_the_envelope():
    pipeline = REGISTRY[0]
    single, _ = response_models(pipeline)
    assert list(single.model_fields)[-3:] == ["model_version", "request_id", "cached"]
    assert splice(b'{"a":1}', {"b": "x"}) == b'{"a":1,"b":"x"}' and splice(b"{}", {"b": 2}) == b'{"b":2}'
    result = pipeline.result(probability_of_default=0.25, grade="B", reasons=[])
    answer = Answer(Stored.of(result), "risk-1", 'id"1', cached=False)
    body = single.model_validate_json(answer.json())
    assert body.request_id == 'id"1' and body.probability_of_default == 0.25 and body.cached is False


def _config(repository: Path, name: str):
    return model_config.parse((repository / name / "config.pbtxt").read_text())


def _tensors(tensors) -> dict[str, int]:
    return {t.name: t.data_type for t in tensors}


@pytest.mark.parametrize("pipeline", REGISTRY, ids=NAMES)
def test_every_ensemble_step_matches_its_model(pipeline, repository):
    """Each step's maps name tensors its model has, of the type the ensemble carries there."""
    ensemble = _config(repository, pipeline.triton_model)
    if not (paths.ENSEMBLES / pipeline.triton_model).exists():
        # A BLS model has no steps in its config; test_the_codec_speaks_the_models_tensors checks its tensors.
        assert ensemble.backend == "python"
        return
    # Embedded, the ensemble is fused into one Python model that runs the same steps in process.
    assert ensemble.platform == "ensemble" or ensemble.backend == "python"
    steps = pipeline_steps(repository / pipeline.triton_model)
    assert steps, f"{pipeline.triton_model} has no steps"
    carried = _tensors(ensemble.input)  # ensemble tensor name → data type, as steps produce them
    for step in steps:
        name = step["model_name"]
        model = _config(repository, name)
        inputs, outputs = _tensors(model.input), _tensors(model.output)
        for key, value in step["input_map"].items():
            assert key in inputs, f"{name} has no input {key}"
            assert value in carried, f"{name}.{key} reads {value}, which no earlier step produces"
            assert carried[value] == inputs[key], f"{name}.{key}: type differs from {value}"
        for key, value in step["output_map"].items():
            assert key in outputs, f"{name} has no output {key}"
            carried[value] = outputs[key]
    for output in ensemble.output:
        assert carried.get(output.name) == output.data_type, f"nothing produces {output.name} as declared"


def _declared(tensors) -> list[tuple[str, str]]:
    return [(t.name, model_config.model_config_pb2.DataType.Name(t.data_type)) for t in tensors]


@pytest.mark.parametrize("pipeline", REGISTRY, ids=NAMES)
def test_the_declared_tensors_are_the_models(pipeline, repository):
    """The declaration's tensor contract is the built model's inputs and outputs, in name, order and type."""
    config = _config(repository, pipeline.triton_model)
    assert [(t.name, WIRE[t.datatype]) for t in pipeline.inputs] == _declared(config.input)
    assert [(t.name, WIRE[t.datatype]) for t in pipeline.outputs] == _declared(config.output)


@pytest.mark.parametrize("pipeline", REGISTRY, ids=NAMES)
def test_the_codec_encodes_every_declared_input_in_the_models_shape(pipeline, repository):
    """Each input with the batch axis first (where the model batches) and the model's rank."""
    codec = pipeline.load(repository)
    config = _config(repository, pipeline.triton_model)
    bodies = pipeline.examples(2, 5)
    payloads = [Upload(base64.b64decode(b["image_base64"]), "file") if pipeline.body == "image" else b for b in bodies]
    rows = [codec.row(p) for p in payloads][: 2 if config.max_batch_size > 0 else 1]
    inputs = pipeline.infer_inputs(codec.encode(rows))
    dims = {t.name: list(t.dims) for t in config.input}
    for tensor in inputs:
        batch = [len(rows)] if config.max_batch_size > 0 else []
        fixed = [d for d in dims[tensor.name] if d > 0]
        assert len(tensor.shape) == len(batch) + len(dims[tensor.name]), tensor.name
        assert list(tensor.shape[: len(batch)]) == batch and all(d in tensor.shape for d in fixed), tensor.name
