"""Request generators: applicants drawn from the shipped data, made unique so caches do not flatter."""

from __future__ import annotations

import base64
import csv
import functools
import random
from pathlib import Path
from typing import Any

from finfer import paths


def load_applicants(csv_path: Path = paths.GERMAN_CREDIT_CSV, target: str = "creditability") -> list[dict[str, Any]]:
    """Rows as the API takes them: numbers as numbers, categories as the CSV spells them, no target."""
    with csv_path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    applicants = []
    for row in rows:
        applicant: dict[str, Any] = {}
        for key, value in row.items():
            if key == target:
                continue
            try:
                applicant[key] = int(value)
            except ValueError:
                try:
                    applicant[key] = float(value)
                except ValueError:
                    applicant[key] = value
        applicants.append(applicant)
    return applicants


def unique_applicants(n: int, seed: int = 0, amount_field: str = "credit_amount") -> list[dict[str, Any]]:
    """n distinct applicants: real rows with the amount moved, so no two requests share a cache key.

    Seeds below 1,000 give disjoint amounts for the same n, so streams drawn chunk by chunk stay distinct.
    """
    base = load_applicants()
    rng = random.Random(seed)
    out = []
    for i in range(n):
        applicant = dict(rng.choice(base))
        applicant[amount_field] = 250 + n * (seed % 1000) + i
        out.append(applicant)
    return out


def intent_messages(n: int, seed: int) -> list[str]:
    """Unique customer messages (held-out wordings with a serial number), so that no cache answers them."""
    from finfer.models.intent_corpus import CorpusSpec, generate

    texts = [e.text for e in generate(CorpusSpec(per_template_train=1, per_template_eval=20, seed=seed)).test]
    return [f"{texts[i % len(texts)]} #{i}" for i in range(n)]


@functools.cache
def _images(kind: str, count: int = 8) -> tuple[str, ...]:
    """A few rendered pages or panel photos, base64, shared by every generated application (rendering is slow)."""
    if kind == "photo":
        from finfer.models.damage_images import panels

        images = [p.image for p in panels(count, seed=3)]
    else:
        from finfer.models.ocr_documents import render

        rng = random.Random(kind)
        images = [render(kind, rng).image for _ in range(count)]
    return tuple(base64.b64encode(image).decode() for image in images)


APPLICATION_SHAPES = ("mix", "plain", "images")
# What each shape adds to the credit file and fraud links.
_SHAPE_PARTS = {"plain": ("message",), "images": ("message", "contract", "photo")}


def _dealer_mix(rng: random.Random) -> tuple[str, ...]:
    roll = rng.random()
    if roll < 0.1:
        return ("message", "contract", "vin_plate", "photo")
    return ("contract",) if roll < 0.3 else ()


def applications(n: int, seed: int, shape: str = "mix") -> list[dict[str, Any]]:
    """n distinct loan applications. `plain`: credit file, fraud links and a message; `images`: plus one
    contract page and one vehicle photo; `mix` (what dealers send): 70% credit file and links, 20% plus a
    contract page, 10% plus a contract and a VIN plate, a photo and a message."""
    from finfer.models.fraud_data import scoring_requests

    applicants = unique_applicants(n, seed)
    frauds = scoring_requests(n, seed)
    messages = intent_messages(n, seed)
    rng = random.Random(seed)
    out = []
    for i in range(n):
        body: dict[str, Any] = {
            "application_id": f"app-{seed}-{i}",
            "applicant": applicants[i],
            "fraud": {k: frauds[i][k] for k in ("features", "links", "persist")},
            "declared": {"amount": float(rng.randrange(30_000, 400_000, 1_000)), "term_months": 36},
        }
        parts = _dealer_mix(rng) if shape == "mix" else _SHAPE_PARTS[shape]
        if "message" in parts:
            body["message"] = messages[i]
        pages = [kind for kind in ("contract", "vin_plate") if kind in parts]
        if pages:
            body["documents"] = [{"kind": kind, "image_base64": rng.choice(_images(kind))} for kind in pages]
        if "photo" in parts:
            body["vehicle_photos"] = [{"image_base64": rng.choice(_images("photo"))}]
        out.append(body)
    return out
