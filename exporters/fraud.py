"""Fraud-ring family: GraphSAGE over the lending graph, served as `fraud_score`.

Pipeline: fraud_score (Python: graph store, insert, sample, evidence) → BLS → fraud_gnn (ONNX).
It is a BLS pipeline, not an ensemble, because the sampled neighbourhoods of a dynamic batch form
one graph: an ensemble would split the GNN's tensors per request, which a graph cannot be.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import onnx

from finfer.exporters.base import Exporter, Profile, Progress, Trained, onnx_spec
from finfer.exporters.model_config import Flavour, ModelSpec, Tensor
from finfer.models.drift import psi as drift
from finfer.models.fraud.features import KINDS
from finfer.models.fraud.graph import NODE_FEATURES, InMemoryGraph, Scaler, link_key
from finfer.models.fraud.sampling import sample, stored_target
from finfer.models.fraud.scoring import FraudConfig
from finfer.models.fraud.training import evaluation as fraud_eval
from finfer.models.fraud.training import graph_data as fraud_data
from finfer.models.fraud.training.graph_data import GraphSpec, LendingGraph

SEED = 5


@dataclass(frozen=True)
class FraudParams:
    applications: int
    epochs: int


PARAMS = {
    Profile.FULL: FraudParams(applications=100_000, epochs=6),
    Profile.SMALL: FraudParams(applications=6_000, epochs=3),
}


def build_store(
    graph: LendingGraph, entity_keys: dict[str, list[bytes]], visible: np.ndarray, labelled: np.ndarray
) -> InMemoryGraph:
    """A store over every application, with links only where `visible` and fraud labels only where `labelled`."""
    links = {}
    for kind in KINDS:
        apps, entities = graph.links[kind]
        keep = visible[apps]
        links[kind] = (apps[keep], entities[keep])
    return InMemoryGraph(
        application_keys=graph.application_ids.tolist(),
        features=graph.features,
        known_fraud=(graph.label == 1) & labelled,
        entity_keys=entity_keys,
        links=links,
    )


def tabular_baseline(graph: LendingGraph, train: np.ndarray):
    import xgboost

    model = xgboost.XGBClassifier(
        n_estimators=300, max_depth=4, learning_rate=0.05, subsample=0.8, n_jobs=2, random_state=SEED
    )
    return model.fit(graph.features[train], graph.label[train])


def drift_reference(features: np.ndarray, scores: np.ndarray) -> bytes:
    """Held-out applications' features and the GNN's fraud probability on them."""
    columns = {name: features[:, i].tolist() for i, name in enumerate(fraud_data.FEATURES)}
    return drift.card(columns, {"fraud_probability": np.asarray(scores).tolist()})


class FraudExporter(Exporter):
    family = "fraud"
    onnx_model = "fraud_gnn"
    parity_tolerance = 1e-5
    runs_in_process: ClassVar[dict[str, tuple[str, ...]]] = {"fraud_score": ("fraud_gnn",)}

    def train(self, profile: Profile, progress: Progress) -> Trained:
        from finfer.models.fraud.training import gnn as fraud_gnn

        params = PARAMS[profile]
        spec = GraphSpec(applications=params.applications, seed=SEED)
        graph = fraud_data.generate(spec)
        progress(
            f"[fraud] graph: {graph.size} applications, "
            + ", ".join(f"{len(graph.links[k][0])} {k} links" for k in KINDS)
            + f", {int((graph.ring >= 0).sum())} in {len(np.unique(graph.ring[graph.ring >= 0]))} rings"
        )
        # Keyed hashes of device/phone/IP ids; the key stays with the model, so the store can hash
        # what the front sends and nobody can reverse a hash by enumerating phone numbers.
        secret = os.urandom(32)
        entity_keys = {kind: [link_key(secret, kind, raw) for raw in graph.entity_ids[kind]] for kind in KINDS}
        train_apps = np.flatnonzero(graph.mask("train"))
        validation_apps = np.flatnonzero(graph.mask("validation"))
        test_apps = np.flatnonzero(graph.mask("test"))
        # Training sees the graph without the test applications: their rings arrive after the model.
        history = ~graph.mask("test")
        # Served, the test applications are in the graph as pending applications: linked, not labelled.
        training_graph = build_store(graph, entity_keys, history, history)
        serving_graph = build_store(graph, entity_keys, np.ones(graph.size, dtype=bool), history)
        scaler = Scaler.fit(graph.features[train_apps])
        train_params = fraud_gnn.TrainParams(epochs=params.epochs)

        def validate(model) -> float:
            scores = fraud_gnn.predict(model, training_graph, validation_apps, scaler, train_params.fanout)
            return fraud_eval.summary(graph.label[validation_apps], scores)["pr_auc"]

        model = fraud_gnn.train(
            training_graph, train_apps, graph.label, scaler, train_params, progress, validate, seed=SEED
        )
        progress(f"[fraud] scoring {len(test_apps)} held-out applications in the full graph")
        gnn_scores = fraud_gnn.predict(model, serving_graph, test_apps, scaler, train_params.fanout)
        baseline = tabular_baseline(graph, train_apps)
        baseline_scores = baseline.predict_proba(graph.features[test_apps])[:, 1]
        labels = graph.label[test_apps]
        ring_fraud = (labels == 1) & (graph.ring[test_apps] >= 0)
        quality = fraud_eval.compare(labels, ring_fraud, gnn_scores, baseline_scores)
        progress(
            f"[fraud] held-out rings: GNN ROC AUC {quality['gnn']['roc_auc']:.3f} PR AUC {quality['gnn']['pr_auc']:.3f}"
            f"; tabular ROC AUC {quality['baseline']['roc_auc']:.3f} PR AUC {quality['baseline']['pr_auc']:.3f}"
            f"; ring recall at the baseline's precision: ×{quality['ring_recall_gain']:.2f}"
        )

        parity_targets = [stored_target(serving_graph, int(a)) for a in test_apps[:64]]
        parity = sample(serving_graph, parity_targets, train_params.fanout, scaler, seeds=test_apps[:64])
        version = "fraud-" + fraud_gnn.weights_digest(model)[:12]
        config = FraudConfig(model_version=version, scaler=scaler, fanout=train_params.fanout)
        stored = io.BytesIO()
        serving_graph.save(stored)
        return Trained(
            model=model,
            parity_inputs={"node_features": parity.features, "edge_index": parity.edge_index},
            parity_expected={"fraud_probability": fraud_gnn.node_probabilities(model, parity)},
            metrics={
                "trained_on": {
                    "data": "generated lending graph (finfer.models.fraud.training.graph_data)",
                    "generator": spec.__dict__,
                    "applications": graph.size,
                    "links": {k: len(graph.links[k][0]) for k in KINDS},
                    "rings": len(np.unique(graph.ring[graph.ring >= 0])),
                    "split": {s: int(graph.mask(s).sum()) for s in fraud_data.SPLITS},
                    "split_rule": "whole rings per split; test rings never seen in training",
                },
                "quality": quality,
                "params": {"epochs": params.epochs, "hidden": train_params.hidden, "fanout": config.fanout.__dict__},
                "graph_store_bytes": serving_graph.memory_bytes(),
            },
            files={
                "fraud_score": {
                    "graph.npz": stored.getvalue(),
                    "link_key.bin": secret,
                    "meta.json": config.to_json().encode(),
                    drift.REFERENCE_FILE: drift_reference(graph.features[test_apps], gnn_scores),
                }
            },
            model_version=version,
        )

    def to_onnx(self, trained: Trained) -> onnx.ModelProto:
        import torch

        features = torch.from_numpy(trained.parity_inputs["node_features"])
        edges = torch.from_numpy(trained.parity_inputs["edge_index"])
        buffer = io.BytesIO()
        # The TorchScript exporter is deprecated in torch 2.9+, but it is the one verified for SAGEConv
        # with dynamic node and edge counts (onnxruntime matches torch to 1e-7); its warnings are noise.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                trained.model,
                (features, edges),
                buffer,
                input_names=["node_features", "edge_index"],
                output_names=["fraud_probability"],
                dynamic_axes={
                    "node_features": {0: "nodes"},
                    "edge_index": {1: "edges"},
                    "fraud_probability": {0: "nodes"},
                },
                opset_version=18,
                dynamo=False,
            )
        return onnx.load_from_string(buffer.getvalue())

    def model_specs(self, trained: Trained, flavour: Flavour) -> list[ModelSpec]:
        config = FraudConfig.from_json(trained.files["fraud_score"]["meta.json"].decode())
        gnn = onnx_spec(
            "fraud_gnn",
            (Tensor("node_features", "FP32", (-1, NODE_FEATURES)), Tensor("edge_index", "INT64", (2, -1))),
            (Tensor("fraud_probability", "FP32", (-1,)),),
            flavour,
            max_batch_size=0,
            dynamic_batching=None,
        )
        pipeline = ModelSpec(
            name="fraud_score",
            inputs=(
                Tensor("application_id", "STRING", (1,)),
                Tensor("features", "FP32", (len(fraud_data.FEATURES),)),
                Tensor("link_ids", "STRING", (len(KINDS), config.max_links)),
                Tensor("persist", "BOOL", (1,)),
            ),
            outputs=(
                Tensor("fraud_probability", "FP32", (1,)),
                Tensor("shared_counts", "INT64", (len(KINDS), config.max_links)),
                Tensor("neighbours", "INT64", (1,)),
                Tensor("known_fraud_neighbours", "INT64", (1,)),
                Tensor("suspicious_neighbours", "STRING", (config.top_neighbours,)),
            ),
            max_batch_size=64,
        )
        return [gnn, pipeline]
