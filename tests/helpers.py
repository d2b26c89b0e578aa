"""Shared helpers of the functional tests."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import xgboost

from finfer.loadtest.stack import metric as metric  # the tests read metrics as the drills do
from finfer.models.documents.kinds import BY_NAME, Type
from finfer.models.risk import scoring as risk
from finfer.models.risk.applicants import load_applicants, unique_applicants


def model_prediction(repository: Path, applicant: dict) -> float:
    """The booster's own probability for an applicant, without Triton or ONNX."""
    schema = risk.FeatureSchema.load(repository / "risk_features" / "1" / "schema.json")
    categorical = np.array([[applicant[c] for c in schema.categorical]], dtype=object)
    numeric = np.array([[applicant[n] for n in schema.numeric]], dtype=np.float32)
    booster = xgboost.Booster()
    booster.load_model(bytearray((repository / "risk_reasons" / "1" / "booster.json").read_bytes()))
    return float(booster.predict(xgboost.DMatrix(risk.encode(schema, categorical, numeric)))[0])


def post(url: str, body: object, key: str | None = None) -> tuple[int, dict]:
    """POST JSON (or raw bytes) and return the status and the decoded answer, errors included."""
    status, answer, _ = call(url, body, key)
    return status, answer


def put(url: str, body: object, key: str | None = None) -> tuple[int, dict]:
    """PUT JSON and return the status and the decoded answer, errors included."""
    status, answer, _ = call(url, body, key, method="PUT")
    return status, answer


def get(url: str, key: str | None = None) -> tuple[int, dict]:
    status, answer, _ = call(url, key=key)
    return status, answer


def call(
    url: str, body: object = None, key: str | None = None, method: str | None = None
) -> tuple[int, dict, dict[str, str]]:
    """GET (no body) or POST JSON (or `method`) with an optional API key: status, decoded answer, headers."""
    data = None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json"} if data is not None else {}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    method = method or ("GET" if data is None else "POST")
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


_counter = iter(range(10_000, 10_000_000))


def fresh_applicant() -> dict:
    """An applicant no other test has sent, so the front's cache has never seen it."""
    (applicant,) = unique_applicants(1, seed=next(_counter))
    applicant["credit_amount"] = next(_counter)
    return applicant


__all__ = ["call", "fresh_applicant", "get", "load_applicants", "metric", "model_prediction", "post", "put"]


# A plain value of each type, for the fields a test does not set.
PLAIN = {Type.AMOUNT: "1000.00", Type.PERIOD: "2020-01-01/2030-01-01", Type.DATE: "2020-01-01", Type.INTEGER: "12"}


def read_page(kind: str, confidence: float = 0.99, **values: tuple[str, bool] | None):
    """A page as the documents pipeline answers it, read as `kind`: `values` sets fields as (value, valid)
    or None (not read); the kind's other fields read plain and valid."""
    from finfer.pipelines.documents import Document, DocumentField

    fields = {}
    for spec in BY_NAME[kind].fields:
        value = values.get(spec.name, (PLAIN.get(spec.type, "x"), True))
        if value is not None:
            fields[spec.name] = DocumentField(*value, 0.99, [[0, 0], [1, 0], [1, 1], [0, 1]])
    return Document([], kind, confidence, fields)
