"""Loan applications as dealers send them: the examples the declaration generates, the front's probe, and the
bench's and load tests' request streams. Each part (credit file, fraud links, message, pages, a photo) comes
from its own family's generator, imported when called: what Triton runs never needs the generators."""

from __future__ import annotations

import base64
import functools
import random
from typing import Any


@functools.cache
def _images(kind: str, count: int = 8) -> tuple[str, ...]:
    """A few rendered pages or panel photos, base64, shared by every generated application (rendering is slow)."""
    if kind == "photo":
        from finfer.models.damage.training.panels import panels

        images = [p.image for p in panels(count, seed=3)]
    else:
        from finfer.models.ocr.training.documents import render

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
    from finfer.models.fraud.training.graph_data import scoring_requests
    from finfer.models.intent.training.corpus import intent_messages
    from finfer.models.risk.applicants import unique_applicants

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


def probe() -> dict[str, Any]:
    """The health probe: a credit file alone runs the step and the risk branch, never the fraud graph."""
    from finfer.models.risk.applicants import unique_applicants

    return {"application_id": "finfer-probe", "applicant": unique_applicants(1, 0)[0]}
