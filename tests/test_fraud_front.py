"""The fraud pipeline through the real front and Triton: scores, evidence, persistence, bad input."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest

from finfer.exporters.base import Profile
from finfer.exporters.fraud import PARAMS, SEED
from finfer.exporters.onnx_tools import run_onnx
from finfer.models.fraud import scoring as fraud_scoring
from finfer.models.fraud.features import FEATURES, KINDS
from finfer.models.fraud.graph import InMemoryGraph
from finfer.models.fraud.training import graph_data as fraud_data
from finfer.models.fraud.training.graph_data import GraphSpec
from finfer.wire import finfer_pb2, finfer_pb2_grpc
from tests.helpers import metric, post

FEATURES_OK = {
    "income_k": 9.0,
    "loan_amount_k": 110.0,
    "age": 35,
    "employment_months": 40,
    "credit_history_months": 60,
    "inquiries_90d": 1,
    "application_hour": 14.5,
    "email_age_days": 900,
}


def fraud(front, body: object) -> tuple[int, dict]:
    return post(f"{front.http_url}/v1/fraud/score", body)


@pytest.fixture(scope="module")
def graph():
    """The generated graph the session repository was built from (same spec and seed), with raw ids."""
    return fraud_data.generate(GraphSpec(applications=PARAMS[Profile.SMALL].applications, seed=SEED))


def raw_links(graph, app: int) -> dict[str, list[str]]:
    out = {}
    for kind in KINDS:
        apps, entities = graph.links[kind]
        out[kind] = graph.entity_ids[kind][entities[apps == app]].tolist()
    return out


def body(application_id: str, links: dict | None = None, persist: bool = False, **features) -> dict:
    return {
        "application_id": application_id,
        "features": {**FEATURES_OK, **features},
        "links": links or {},
        "persist": persist,
    }


def expected_probability(repository, request: dict) -> float:
    """fraud_score's math run here on a fresh copy of the stored graph, with onnxruntime for the GNN."""
    version = repository / "fraud_score" / "1"
    store = InMemoryGraph.load(version / "graph.npz")
    config = fraud_scoring.FraudConfig.load(version / "meta.json")
    links = np.full((1, len(KINDS), config.max_links), "", dtype=object)
    for k, kind in enumerate(KINDS):
        ids = request["links"].get(kind, [])
        links[0, k, : len(ids)] = ids
    gnn = repository / "fraud_gnn" / "1" / "model.onnx"
    result = fraud_scoring.score(
        store,
        config,
        (version / "link_key.bin").read_bytes(),
        np.array([[request["application_id"]]], dtype=object),
        np.array([[request["features"][f] for f in FEATURES]], dtype=np.float32),
        links,
        np.array([[False]]),
        lambda sub: run_onnx(gnn, {"node_features": sub.features, "edge_index": sub.edge_index})["fraud_probability"],
    )
    return float(result["fraud_probability"][0, 0])


def test_score_equals_the_pipeline_math_and_carries_evidence(front, repository, graph):
    ring_member = int(np.flatnonzero((graph.ring >= 0) & graph.mask("train"))[0])
    request = body("probe-ring-1", raw_links(graph, ring_member))
    status, answer = fraud(front, request)
    assert status == 200, answer
    assert answer["fraud_probability"] == pytest.approx(expected_probability(repository, request), abs=1e-5)
    assert answer["basis"] == "graph" and answer["persisted"] is False
    assert answer["model_version"].startswith("fraud-") and len(answer["request_id"]) == 32
    evidence = answer["evidence"]
    # the probe shares every link of a known ring member, so it shares at least with that member
    assert [len(evidence["shared"][k]) for k in KINDS] == [len(request["links"][k]) for k in KINDS]
    assert all(c >= 1 for k in KINDS for c in evidence["shared"][k])
    assert graph.application_ids[ring_member] in evidence["suspicious_neighbours"]
    assert evidence["known_fraud_neighbours"] >= int(graph.label[ring_member])


def test_ring_neighbourhood_scores_higher_than_an_honest_loner(front, graph):
    ring_member = int(np.flatnonzero((graph.ring >= 0) & graph.mask("train"))[1])
    _, ring = fraud(front, body("probe-ring-2", raw_links(graph, ring_member)))
    _, loner = fraud(
        front, body("probe-loner", {"device": ["fresh-dev"], "phone": ["13900000001"], "ip": ["10.9.9.9"]})
    )
    assert ring["fraud_probability"] > loner["fraud_probability"]
    assert loner["evidence"]["neighbours"] == 0 and loner["evidence"]["suspicious_neighbours"] == []


def test_persisted_application_is_seen_by_later_ones(front):
    links = {"device": ["persist-dev-1"], "phone": ["+8613811112222"]}
    _, first = fraud(front, body("persist-a", links, persist=True))
    assert first["persisted"] and first["evidence"]["shared"] == {"device": [0], "phone": [0], "ip": []}
    _, second = fraud(front, body("persist-b", links))
    assert second["evidence"]["shared"] == {"device": [1], "phone": [1], "ip": []}
    assert second["evidence"]["suspicious_neighbours"] == ["persist-a"]
    # persist-b was not persisted: a third application still sees one neighbour only
    _, third = fraud(front, body("persist-c", {"device": ["persist-dev-1"]}))
    assert third["evidence"]["shared"]["device"] == [1]


def test_concurrent_persisted_applications_all_land(front):
    def insert(i: int) -> int:
        status, _ = fraud(front, body(f"burst-{i}", {"device": ["burst-tablet", f"burst-own-{i}"]}, persist=True))
        return status

    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(insert, range(48))) == {200}
    _, probe = fraud(front, body("burst-probe", {"device": ["burst-tablet"]}))
    assert probe["evidence"]["shared"]["device"] == [48] and probe["evidence"]["neighbours"] == 48


def test_no_links_scores_on_tabular_features_alone(front):
    status, answer = fraud(front, body("lonely-1", {}))
    assert status == 200 and answer["basis"] == "tabular_only"
    assert 0.0 <= answer["fraud_probability"] <= 1.0
    status, answer = fraud(front, {"application_id": "lonely-2", "features": FEATURES_OK})
    assert status == 200 and answer["basis"] == "tabular_only"


def test_grpc_mirrors_http(front):
    request = body("grpc-1", {"device": ["persist-dev-1"], "phone": ["+8613811112222"], "ip": ["10.0.0.1"]})
    _, http_answer = fraud(front, request)
    with grpc.insecure_channel(front.grpc_target) as channel:
        stub = finfer_pb2_grpc.FraudScoringStub(channel)
        answer = stub.Score(
            finfer_pb2.FraudScoreRequest(
                application_id="grpc-1", features=FEATURES_OK, links=finfer_pb2.FraudLinks(**request["links"])
            ),
            timeout=30,
        )
        assert answer.fraud_probability == pytest.approx(http_answer["fraud_probability"], abs=1e-6)
        assert list(answer.evidence.shared.phone) == http_answer["evidence"]["shared"]["phone"]
        assert list(answer.evidence.suspicious_neighbours) == http_answer["evidence"]["suspicious_neighbours"]
        counted = {"route": "FraudScoring/Score", "protocol": "grpc"}
        ok_before = metric(f"{front.http_url}/metrics", "finfer_requests_total", status="OK", **counted)
        bad_before = metric(f"{front.http_url}/metrics", "finfer_requests_total", status="INVALID_ARGUMENT", **counted)
        with pytest.raises(grpc.RpcError) as error:
            stub.Score(finfer_pb2.FraudScoreRequest(application_id="grpc-2", features={"age": 30}), timeout=30)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.value.details() == "features.income_k: is required"
        assert dict(error.value.trailing_metadata())["finfer-error-field"] == "features.income_k"
        assert metric(f"{front.http_url}/metrics", "finfer_requests_total", status="INVALID_ARGUMENT", **counted) == (
            bad_before + 1
        )
        assert metric(f"{front.http_url}/metrics", "finfer_requests_total", status="OK", **counted) == ok_before


BAD = [
    (body("ok", {"device": [f"d{i}" for i in range(9)]}), "links.device", "at most 8 ids a kind, got 9"),
    (body("ok", {"phone": ["12-34"]}), "links.phone[0]", "must be 6 to 20 digits with an optional leading +"),
    (body("ok", {"ip": ["has space"]}), "links.ip[0]", "must be 1 to 128 printable ASCII characters without spaces"),
    (body("ok", {"ip": [""]}), "links.ip[0]", "must be 1 to 128 printable ASCII characters without spaces"),
    (body("ok", {"device": ["d1", "d1"]}), "links.device", "holds the same id twice (item 1)"),
    (body("ok", {"email": ["x@y"]}), "links.email", "is not a known field"),
    (body("ok", {"device": "d1"}), "links.device", "input should be a valid list"),
    (body("bad id!"), "application_id", "must be 1 to 64 letters, digits or _.:- starting with a letter or digit"),
    (body("ok", age="35"), "features.age", "input should be a valid number"),
    (body("ok", age=7), "features.age", "input should be greater than or equal to 16"),
    ({**body("ok"), "persist": "yes"}, "persist", "input should be a valid boolean"),
    ({"features": FEATURES_OK}, "application_id", "is required"),
    ({**body("ok"), "features": {"age": 30}}, "features.income_k", "is required"),
]


@pytest.mark.parametrize(("request_body", "field", "message"), BAD)
def test_bad_input_is_a_400_naming_the_field(front, request_body, field, message):
    status, answer = fraud(front, request_body)
    assert status == 400
    assert answer == {"error": {"code": "invalid_argument", "message": f"{field}: {message}", "field": field}}


def test_phone_numbers_never_reach_the_error_or_the_response(front):
    _, answer = fraud(front, body("ok", {"phone": ["+86138000011112222333"]}))
    assert "138000011112222333" not in json.dumps(answer)
    _, answer = fraud(front, body("phone-ok", {"phone": ["+8613800001111"]}))
    assert "13800001111" not in json.dumps(answer)


def test_malformed_json_and_non_objects(front):
    status, answer = fraud(front, b"{not json")
    assert status == 400 and answer["error"]["code"] == "invalid_json"
    status, answer = fraud(front, [1, 2])
    assert status == 400 and answer["error"]["message"] == "body: must be a JSON object"
