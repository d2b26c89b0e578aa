"""Fraud-ring scoring in the service layer: validate, call `fraud_score`, shape the answer.

Not cached: a score depends on the graph, which every persisted application changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finfer.front.fraud_schemas import FraudValidator
from finfer.front.service import new_request_id
from finfer.front.upstream import FRAUD_MODEL, TritonUpstream
from finfer.models.fraud_scoring import FraudConfig

FRAUD_META = Path(FRAUD_MODEL) / "1" / "meta.json"


class FraudService:
    def __init__(self, upstream: TritonUpstream, config: FraudConfig) -> None:
        self.upstream = upstream
        self.config = config
        self.model_version = config.model_version
        self.validator = FraudValidator(config)

    @classmethod
    def from_repository(cls, repository: Path, upstream: TritonUpstream) -> FraudService | None:
        """None where the repository was built without the fraud family."""
        path = repository / FRAUD_META
        return cls(upstream, FraudConfig.load(path)) if path.exists() else None

    async def score(self, payload: object, request_id: str | None = None) -> dict[str, Any]:
        row = self.validator.row(payload)
        result = await self.upstream.fraud(row, self.config.max_links)
        return {
            "fraud_probability": result.fraud_probability,
            "basis": "graph" if row.has_links else "tabular_only",
            "evidence": {
                "shared": result.shared,
                "neighbours": result.neighbours,
                "known_fraud_neighbours": result.known_fraud_neighbours,
                "suspicious_neighbours": result.suspicious_neighbours,
            },
            "persisted": row.persist,
            "model_version": self.model_version,
            "request_id": request_id or new_request_id(),
        }
