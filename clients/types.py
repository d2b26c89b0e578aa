"""Typed answers of the SDK: the same models the front's OpenAPI documents, from the pipeline declarations."""

from __future__ import annotations

from finfer.pipelines import application, damage, documents, fraud, intent, risk
from finfer.pipelines.declaration import response_models

Reason = risk.Reason
RiskScore = response_models(risk.PIPELINE)[0]
FraudScore = response_models(fraud.PIPELINE)[0]
Intent = response_models(intent.PIPELINE)[0]
Document = response_models(documents.PIPELINE)[0]
Damage = response_models(damage.PIPELINE)[0]
ApplicationDecision = response_models(application.PIPELINE)[0]

__all__ = ["ApplicationDecision", "Damage", "Document", "FraudScore", "Intent", "Reason", "RiskScore"]
