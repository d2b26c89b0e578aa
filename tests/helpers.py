"""Shared helpers of the functional tests."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import xgboost

from finfer.loadtest.stack import metric as metric  # the tests read metrics as the drills do
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
