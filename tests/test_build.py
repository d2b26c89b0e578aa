"""The built repository: loadable configs, model cards, ONNX parity, no drift from the committed configs."""

import ast
import json
import re

import numpy as np
import pytest
import xgboost

from finfer import paths
from finfer.exporters import model_config
from finfer.exporters.base import BuildOptions, Profile, export, is_built, pipeline_steps
from finfer.exporters.model_config import Flavour
from finfer.exporters.onnx_tools import ExportError, run_onnx
from finfer.exporters.risk import RiskExporter, columns, read_csv
from finfer.models.risk import scoring as risk
from finfer.runtime.in_process import models_to_load

MODELS = ("risk_features", "risk_model", "risk_reasons", "risk_score")


def test_every_config_parses_as_model_config(repository):
    for name in MODELS:
        parsed = model_config.parse((repository / name / "config.pbtxt").read_text())
        assert parsed.name == name
        assert parsed.max_batch_size > 0


def test_embedded_each_ensemble_is_one_python_model_running_its_steps(repository):
    """The same tensors and the same steps, mapped the same way, as ensembles/ says, in one Python model."""
    for source in sorted(paths.ENSEMBLES.glob("*/config.pbtxt")):
        ensemble = model_config.parse(source.read_text())
        fused = model_config.parse((repository / source.parent.name / "config.pbtxt").read_text())
        assert fused.backend == "python" and fused.max_batch_size == ensemble.max_batch_size, source
        assert [(t.name, t.data_type) for t in fused.input] == [(t.name, t.data_type) for t in ensemble.input]
        assert [(t.name, t.data_type) for t in fused.output] == [(t.name, t.data_type) for t in ensemble.output]
        written = [(s.model_name, dict(s.input_map), dict(s.output_map)) for s in ensemble.ensemble_scheduling.step]
        steps = pipeline_steps(repository / source.parent.name)
        assert [(s["model_name"], s["input_map"], s["output_map"]) for s in steps] == written, source
        assert {s["model_version"] for s in steps} == {1}
        if fused.max_batch_size:  # a request alone runs at once: no queue delay, no preferred sizes
            assert fused.dynamic_batching == model_config.model_config_pb2.ModelDynamicBatching()
    # Triton loads the pipelines, not their steps (each loaded Python model is a stub process).
    loaded = set(models_to_load(repository))
    assert {"risk_score", "customer_intent", "fraud_score"} <= loaded
    assert not loaded & {"risk_features", "risk_model", "intent_encoder", "fraud_gnn", "ocr_detector"}


def test_every_python_step_points_at_a_class_the_source_defines(repository):
    """The build writes each Python step's model.py as a shim; what it imports must exist in runtime/."""
    steps = 0
    for config in sorted(repository.glob("*/config.pbtxt")):
        if model_config.parse(config.read_text()).backend != "python":
            continue
        shim = (config.parent / "1" / "model.py").read_text()
        module, name = re.search(r"^from finfer\.runtime\.([\w.]+) import (\w+)", shim, re.M).groups()
        source = paths.PROJECT_ROOT / "runtime" / (module.replace(".", "/") + ".py")
        defined = {n.name for n in ast.parse(source.read_text()).body if isinstance(n, ast.ClassDef)}
        assert name in defined, f"{config.parent.name}: {source} defines no {name}"
        steps += 1
    assert steps >= 10


def test_model_card_reports_quality_and_parity(repository):
    card = json.loads((repository / "risk_model" / "metrics.json").read_text())
    assert card["quality"]["cv_folds"] == 3
    assert 0.6 < card["quality"]["cv_roc_auc"] <= 1.0
    assert 0.0 < card["quality"]["cv_brier"] < 0.25
    assert card["onnx"]["parity_max_abs_error"] <= 1e-5
    assert card["onnx"]["opset"]["ai.onnx"] >= 17
    assert card["model_version"].startswith("risk-")


def test_onnx_matches_xgboost_on_every_row(repository):
    schema = risk.FeatureSchema.load(repository / "risk_features" / "1" / "schema.json")
    categorical, numeric = columns(schema, read_csv(paths.GERMAN_CREDIT_CSV))
    features = risk.encode(schema, categorical, numeric)
    booster = xgboost.Booster()
    booster.load_model(bytearray((repository / "risk_reasons" / "1" / "booster.json").read_bytes()))
    expected = booster.predict(xgboost.DMatrix(features))
    onnx_out = run_onnx(repository / "risk_model" / "1" / "model.onnx", {"features": features})
    assert onnx_out["probability_of_default"].shape == (len(features), 1)
    assert np.max(np.abs(onnx_out["probability_of_default"][:, 0] - expected)) < 1e-5


def test_reasons_sum_to_the_margin(repository):
    """TreeSHAP is exact: bias + contributions = the booster's log-odds."""
    schema = risk.FeatureSchema.load(repository / "risk_features" / "1" / "schema.json")
    categorical, numeric = columns(schema, read_csv(paths.GERMAN_CREDIT_CSV)[:50])
    features = risk.encode(schema, categorical, numeric)
    booster = xgboost.Booster()
    booster.load_model(bytearray((repository / "risk_reasons" / "1" / "booster.json").read_bytes()))
    contributions = risk.tree_contributions(booster, features)
    margin = booster.predict(xgboost.DMatrix(features), output_margin=True)
    assert np.allclose(contributions.sum(axis=1), margin, atol=1e-4)


def test_build_is_idempotent_and_native_flavour_differs(repository, tmp_path):
    assert is_built(RiskExporter(), repository)
    export(
        RiskExporter(),
        BuildOptions(out=tmp_path, flavour=Flavour.NATIVE, profile=Profile.SMALL),
        progress=lambda _: None,
    )
    native = model_config.parse((tmp_path / "risk_model" / "config.pbtxt").read_text())
    assert native.platform == "onnxruntime_onnx"
    ensemble = paths.ENSEMBLES / "risk_score" / "config.pbtxt"
    assert (tmp_path / "risk_score" / "config.pbtxt").read_text() == ensemble.read_text()  # natively as written
    assert set(models_to_load(tmp_path)) == {"risk_features", "risk_model", "risk_reasons", "risk_score"}
    assert not (tmp_path / "risk_model" / "1" / "model.py").exists()
    assert (tmp_path / "risk_model" / "1" / "model.onnx").exists()


def test_any_csv_with_a_declared_target_trains(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["income,region,defaulted"]
    for _ in range(300):
        income = rng.uniform(10, 100)
        region = rng.choice(["north", "south"])
        lines.append(f"{income:.1f},{region},{'yes' if income < 40 else 'no'}")
    csv_path = tmp_path / "loans.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    card = export(
        RiskExporter(csv_path, "defaulted", "yes"),
        BuildOptions(out=tmp_path / "repo", profile=Profile.SMALL),
        progress=lambda _: None,
    )
    assert card["quality"]["cv_roc_auc"] > 0.95
    schema = risk.FeatureSchema.load(tmp_path / "repo" / "risk_features" / "1" / "schema.json")
    assert schema.numeric == ("income",) and schema.categorical == {"region": ("north", "south")}


def test_unknown_target_column_fails_clearly(tmp_path):
    with pytest.raises(ValueError, match="target column 'nope'"):
        export(
            RiskExporter(paths.GERMAN_CREDIT_CSV, "nope", "bad"),
            BuildOptions(out=tmp_path),
            progress=lambda _: None,
        )


def test_parity_failure_refuses_to_export(tmp_path, monkeypatch):
    class Broken(RiskExporter):
        def train(self, profile, progress):
            trained = super().train(profile, progress)
            trained.parity_expected = {k: v + 0.01 for k, v in trained.parity_expected.items()}
            return trained

    with pytest.raises(ExportError, match="refusing to export"):
        export(Broken(), BuildOptions(out=tmp_path, profile=Profile.SMALL), progress=lambda _: None)
    assert not (tmp_path / "risk_model" / "config.pbtxt").exists()


def test_tensorrt_path_skips_with_a_reason_where_tensorrt_is_missing(repository, tmp_path):
    from finfer.exporters.onnx_tools import build_tensorrt_engine, tensorrt_available

    if tensorrt_available():
        pytest.skip("tensorrt is installed here: the engine build runs on the GPU node")
    plan = tmp_path / "model.plan"
    reason = build_tensorrt_engine(repository / "risk_model" / "1" / "model.onnx", plan)
    assert reason is not None and "tensorrt does not import" in reason
    assert not plan.exists()
