"""The fraud family's export: ONNX parity at any graph size, the model card, and what the store keeps."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from finfer.exporters.base import Profile, Trained
from finfer.exporters.fraud import PARAMS, SEED, FraudExporter
from finfer.exporters.onnx_tools import run_onnx
from finfer.models.fraud import scoring as fraud_scoring
from finfer.models.fraud.features import KINDS
from finfer.models.fraud.graph import NODE_FEATURES, InMemoryGraph
from finfer.models.fraud.training import graph_data as fraud_data
from finfer.models.fraud.training.gnn import FraudSage
from finfer.models.fraud.training.graph_data import GraphSpec


def random_graph(nodes: int, edges: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(nodes, NODE_FEATURES)).astype(np.float32)
    return features, rng.integers(0, nodes, size=(2, edges)).astype(np.int64)


def test_onnx_matches_torch_for_any_node_and_edge_count():
    torch.manual_seed(0)
    model = FraudSage(hidden=16).eval()
    features, edges = random_graph(30, 60, 0)
    trained = Trained(model, {"node_features": features, "edge_index": edges}, {}, {})
    graph = FraudExporter().to_onnx(trained)
    for nodes, count, seed in ((1, 0, 1), (7, 3, 2), (500, 2000, 3)):
        x, e = random_graph(nodes, count, seed)
        got = run_onnx(graph, {"node_features": x, "edge_index": e})["fraud_probability"]
        with torch.no_grad():
            want = model(torch.from_numpy(x), torch.from_numpy(e)).numpy()
        assert got.shape == (nodes,)
        assert np.abs(got - want).max() < 1e-5


def test_model_card_reports_both_models_on_held_out_rings(repository):
    card = json.loads((repository / "fraud_gnn" / "metrics.json").read_text())
    quality = card["quality"]
    for model in ("gnn", "baseline"):
        assert 0.0 < quality[model]["roc_auc"] <= 1.0 and 0.0 < quality[model]["pr_auc"] <= 1.0
        assert set(quality[model]["operating_point"]) == {"threshold", "precision", "ring_recall"}
    assert quality["baseline"]["operating_point"]["ring_recall"] >= 0.5
    assert quality["test_ring_fraud"] > 0
    assert card["onnx"]["parity_max_abs_error"] <= card["onnx"]["parity_tolerance"]
    assert card["trained_on"]["split_rule"].startswith("whole rings")


@pytest.fixture(scope="module")
def generated():
    return fraud_data.generate(GraphSpec(applications=PARAMS[Profile.SMALL].applications, seed=SEED))


def test_the_stored_graph_keeps_no_raw_ids_and_knows_only_history_labels(repository, generated):
    raw = (repository / "fraud_score" / "1" / "graph.npz").read_bytes()
    for kind in KINDS:
        for entity in generated.entity_ids[kind][:50]:
            assert entity.encode() not in raw
    store = InMemoryGraph.load(repository / "fraud_score" / "1" / "graph.npz")
    apps = np.arange(generated.size)
    known = store.known_fraud(apps)
    test = generated.mask("test")
    assert not known[test].any(), "test labels must not be known to the served graph"
    assert np.array_equal(known[~test], generated.label[~test] == 1)


def test_score_inserts_only_when_asked_and_checks_the_link_shape(repository):
    version = repository / "fraud_score" / "1"
    store = InMemoryGraph.load(version / "graph.npz")
    config = fraud_scoring.FraudConfig.load(version / "meta.json")
    secret = (version / "link_key.bin").read_bytes()
    links = np.full((2, len(KINDS), config.max_links), "", dtype=object)
    links[:, 0, 0] = "unit-device"
    ids = np.array([["unit-a"], ["unit-b"]], dtype=object)
    features = np.ones((2, len(fraud_data.FEATURES)), dtype=np.float32) * 30

    def gnn(subgraph):
        return np.full(subgraph.nodes, 0.25, dtype=np.float32)

    before = store.size
    out = fraud_scoring.score(store, config, secret, ids, features, links, np.array([[True], [False]]), gnn)
    assert store.size == before + 1 and store.find_application("unit-a") is not None
    assert store.find_application("unit-b") is None
    # unit-a was inserted first, so unit-b (same batch) sees it on the shared device
    assert out["shared_counts"][:, 0, 0].tolist() == [0, 1]
    assert out["shared_counts"][0, 0, 1:].tolist() == [-1] * (config.max_links - 1)
    assert out["suspicious_neighbours"][1, 0] == "unit-a"
    assert out["fraud_probability"].shape == (2, 1)
    with pytest.raises(ValueError, match="link_ids must be"):
        fraud_scoring.score(store, config, secret, ids, features, links[:, :, :2], np.array([[False], [False]]), gnn)
