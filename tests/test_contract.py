"""The HTTP contract: schemathesis fuzzes every route of the live front with all its checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IMAGE_ROUTES = "^/v1/(documents/ocr|vehicles/damage)$"


def schemathesis(url: str, workdir: Path, *selection: str) -> subprocess.CompletedProcess:
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{url}/openapi.json",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        "25",
        "--seed",
        "20261122",
        "--generation-deterministic",
        "--request-timeout",
        "30",
        "--no-color",
        *selection,
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks", "PYTHONPATH": str(ROOT)}
    # In a temporary folder: schemathesis keeps a cache of what it found in the folder it runs in.
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir, timeout=600)


@pytest.mark.parametrize(
    "selection",
    [
        ("--checks", "all", "--exclude-path-regex", IMAGE_ROUTES),
        # The upload routes: schemathesis serialises a multipart body meant to be invalid as its own
        # valid 1×1 PNG under `file`, which the front rightly answers; every other check still runs.
        ("--checks", "all", "--exclude-checks", "negative_data_rejection", "--include-path-regex", IMAGE_ROUTES),
    ],
    ids=["every route, every check", "upload routes"],
)
def test_schemathesis_finds_nothing(front, selection, tmp_path):
    result = schemathesis(front.http_url, tmp_path, *selection)
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "Unresolvable references" not in result.stdout, report
