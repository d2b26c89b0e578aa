"""Writes the example files the README's commands send: `python examples/render.py` (run from the repository root).

They come from finfer's own generators with fixed seeds: an applicant row of the German credit data, a fraud
application, and a loan application carrying a rendered contract page and a generated door-panel photo
(also written alone, for the OCR and damage routes). The committed files are its output.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from finfer.application.examples import applications
from finfer.pipelines import fraud, risk

HERE = Path(__file__).parent
SEED = 7
APPLICATION_ID = "A-1"  # the README reads the recorded decision back by this id


def write_json(name: str, body: dict) -> None:
    (HERE / name).write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    write_json("applicant.json", risk.PIPELINE.examples(1, SEED)[0])
    write_json("fraud.json", {**fraud.PIPELINE.examples(1, SEED)[0], "application_id": APPLICATION_ID})
    application = {**applications(1, SEED, "images")[0], "application_id": APPLICATION_ID}
    write_json("application.json", application)
    (HERE / "contract.jpg").write_bytes(base64.b64decode(application["documents"][0]["image_base64"]))
    (HERE / "door.jpg").write_bytes(base64.b64decode(application["vehicle_photos"][0]["image_base64"]))


if __name__ == "__main__":
    main()
