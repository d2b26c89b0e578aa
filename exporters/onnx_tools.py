"""ONNX steps every exporter shares: graph clean-up, parity against the framework, INT8, TensorRT."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from finfer.runtime.onnx_session import session_for


class ExportError(RuntimeError):
    """The export produced something that must not be served."""


def run_onnx(model: onnx.ModelProto | Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = session_for(model.SerializeToString() if isinstance(model, onnx.ModelProto) else model)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, inputs), strict=True))


@dataclass(frozen=True)
class Parity:
    max_abs_error: float
    rows: int
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs_error <= self.tolerance


def check_parity(
    model: onnx.ModelProto | Path,
    inputs: dict[str, np.ndarray],
    expected: dict[str, np.ndarray],
    tolerance: float,
) -> Parity:
    actual = run_onnx(model, inputs)
    worst = 0.0
    for name, reference in expected.items():
        if name not in actual:
            raise ExportError(f"the ONNX model has no output {name!r} (outputs: {sorted(actual)})")
        got = actual[name].astype(np.float64)
        want = np.asarray(reference, dtype=np.float64).reshape(got.shape)
        worst = max(worst, float(np.max(np.abs(got - want))))
    rows = next(iter(inputs.values())).shape[0]
    return Parity(max_abs_error=worst, rows=rows, tolerance=tolerance)


def keep_outputs(model: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    """Drop graph outputs not in `names` (exporter extras such as a predicted label)."""
    kept = [o for o in model.graph.output if o.name in names]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    return model


def xgboost_classifier(model: object, n_features: int, output: str) -> onnx.ModelProto:
    """A binary XGBoost classifier as ONNX reading `features` (N×n_features FP32) and answering the positive
    class's probability as `output`, N×1 (the batch axis kept, as Triton's config states it)."""
    import onnxmltools
    from onnx import helper
    from onnxmltools.convert.common.data_types import FloatTensorType

    graph = onnxmltools.convert_xgboost(
        model, initial_types=[("features", FloatTensorType([None, n_features]))], target_opset=15
    )
    graph.graph.initializer.append(helper.make_tensor("positive_class", onnx.TensorProto.INT64, [1], [1]))
    graph.graph.node.append(helper.make_node("Gather", ["probabilities", "positive_class"], [output], axis=1))
    graph.graph.output.append(helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, [None, 1]))
    keep_outputs(graph, [output])
    if not any(d.domain in ("", "ai.onnx") for d in graph.opset_import):
        graph.opset_import.append(helper.make_opsetid("", 17))
    return graph


def rename_io(model: onnx.ModelProto, names: dict[str, str]) -> onnx.ModelProto:
    """Give a pretrained graph's inputs and outputs finfer's snake_case tensor names."""
    for value in [*model.graph.input, *model.graph.output]:
        value.name = names.get(value.name, value.name)
    for node in model.graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    return model


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic INT8 quantization of weights (onnxruntime); activations stay float."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)


def quantize_static_qdq(source: Path, target: Path, calibration: list[dict[str, np.ndarray]]) -> None:
    """Static INT8 in QDQ format: weights per channel, activations with ranges calibrated on `calibration`.

    Only MatMul/Gemm are quantized: on CPUs with VNNI those are where INT8 pays, and LayerNorm or
    Softmax in INT8 costs accuracy for no speed.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    prepared = target.with_suffix(".prepared.onnx")
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    try:
        quantize_static(
            str(prepared),
            str(target),
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Gemm"],
        )
    finally:
        prepared.unlink(missing_ok=True)


def rows_per_second(model: Path, inputs: dict[str, np.ndarray], seconds: float = 1.0, threads: int = 1) -> float:
    """Throughput of `model` in-process on `threads` threads, repeating one batch of `inputs`."""
    session = session_for(model, threads)
    rows = next(iter(inputs.values())).shape[0]
    session.run(None, inputs)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        session.run(None, inputs)
        n += rows
    return n / (time.perf_counter() - start)


def tensorrt_available() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return True


def build_tensorrt_engine(source: Path, target: Path, precision: str = "FP16") -> str | None:
    """Build a TensorRT plan next to the ONNX model, or say why not.

    TensorRT cannot be installed in this workplace; engines are specific to the GPU model anyway,
    so production builds them on the GPU node at deploy time (deploy/). Returns the reason when skipped.
    """
    if not tensorrt_available():
        return "tensorrt does not import here: build the engine on the GPU node (trtexec, see deploy/)"
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(source.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ExportError(f"TensorRT could not parse {source}: {errors}")
    config = builder.create_builder_config()
    if precision == "FP16":
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision == "INT8":
        config.set_flag(trt.BuilderFlag.INT8)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise ExportError(f"TensorRT failed to build an engine from {source}")
    target.write_bytes(bytes(engine))
    return None
