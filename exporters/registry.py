"""The model families `finfer build` knows."""

from collections.abc import Callable

from finfer.exporters.base import Exporter
from finfer.exporters.damage import DamageExporter
from finfer.exporters.fraud import FraudExporter
from finfer.exporters.intent import IntentExporter
from finfer.exporters.ocr import OcrExporter
from finfer.exporters.risk import RiskExporter

FAMILIES: dict[str, Callable[[], Exporter]] = {
    "risk": RiskExporter,
    "fraud": FraudExporter,
    "intent": IntentExporter,
    "ocr": OcrExporter,
    "damage": DamageExporter,
}
