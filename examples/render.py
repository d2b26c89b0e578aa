"""Writes the example files the README's commands send: `python examples/render.py` (run from the repository root).

They come from finfer's own generators with fixed seeds: an applicant row of the German credit data, a fraud
application, a loan application carrying a rendered contract page and a generated door-panel photo (also
written alone, for the OCR and damage routes), and a loan in servicing with one statement. The committed files
are its output.
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
LOAN_ID = "L-1"  # the README sends this loan's statement
# A month three months late on a balance near the limit, with a message asking to negotiate: the README's
# statement shows a warning band and a treatment other than none.
STATEMENT = {"period": "2026-09", "balance": 42000.0, "paid": 0.0, "status": 2, "message_intent": "overdue_negotiation"}


def write_json(name: str, body: dict) -> None:
    (HERE / name).write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    write_json("applicant.json", risk.PIPELINE.examples(1, SEED)[0])
    write_json("fraud.json", {**fraud.PIPELINE.examples(1, SEED)[0], "application_id": APPLICATION_ID})
    application = {**applications(1, SEED, "images")[0], "application_id": APPLICATION_ID}
    write_json("application.json", application)
    (HERE / "contract.jpg").write_bytes(base64.b64decode(application["documents"][0]["image_base64"]))
    (HERE / "door.jpg").write_bytes(base64.b64decode(application["vehicle_photos"][0]["image_base64"]))
    write_json("loan.json", {"loan_id": LOAN_ID, "origination": {"limit": 50000.0, "age": 35, "education": 2}})
    write_json("statement.json", {"statement_id": f"{LOAN_ID}-{STATEMENT['period']}", **STATEMENT})


if __name__ == "__main__":
    main()
