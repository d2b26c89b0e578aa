"""The README's commands, run as written against a live front: a command the README shows must work.

Its second shell block (what to run "in another terminal") is read line by line. Each command is run from the
repository root, with the front's address in place of the documented one and this environment's `finfer`
in place of `.venv/bin/finfer`. `open URL` is fetched. The first block (`make serve`, `make test`) is what
CI itself runs.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) >= 2, "the README lost its command blocks"
    lines = [line.split(" # ")[0].strip() for line in blocks[1].splitlines()]
    return [line for line in lines if line]


def as_here(command: str, front) -> str:
    http = front.http_url.removeprefix("http://")
    command = command.replace("localhost:8080", http).replace("127.0.0.1:8080", http)
    command = command.replace("127.0.0.1:8081", front.grpc_target)
    if command.startswith(".venv/bin/finfer "):
        rest = command.removeprefix(".venv/bin/finfer ")
        url = "" if "--grpc" in rest else f" --url {front.http_url}"
        command = f"{shlex.quote(sys.executable)} -m finfer.cli {rest}{url}"
    return command


def test_the_readme_shows_every_example_it_sends():
    for command in readme_commands():
        for name in re.findall(r"@(examples/[\w./-]+)", command):
            assert (ROOT / name).is_file(), f"{name} (used by `{command}`) is missing"


@pytest.mark.parametrize("command", readme_commands())
def test_a_readme_command_runs_as_written(front, command: str):
    line = as_here(command, front)
    if line.startswith("open "):
        with urllib.request.urlopen(line.split()[1], timeout=30) as response:
            assert response.status == 200
        return
    done = subprocess.run(["bash", "-c", line], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
    if line.startswith("curl"):
        answer = json.loads(done.stdout)
        assert "error" not in answer, (command, answer)
