"""`finfer serve` on a repository not fully built: what is built answers at once, the rest is built, loaded and
served while it runs; the build's progress as a person reads it."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import httpx
import pytest

from finfer.background_build import BackgroundBuild, build_order
from finfer.build_progress import Board, Display, Phase, clock, split_line, summary
from finfer.errors import NotBuilt
from finfer.front.dataplane import DataPlane
from finfer.front.upstream import TritonUpstream
from finfer.loadtest import stack
from finfer.pipelines import application, intent, risk
from finfer.pipelines.registry import REGISTRY
from finfer.triton_server import TritonServer
from finfer.wire import finfer_pb2, finfer_pb2_grpc
from tests.conftest import http_status, wait_until
from tests.helpers import fresh_applicant


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_the_board_reads_exporter_lines_and_estimates_what_is_left():
    now = Clock()
    board = Board({"risk": 10, "intent": 100, "application": 2}, now)
    assert split_line("[05:01:12] [intent] epoch 1/8: loss 1.5709 (31s)") == ("intent", "epoch 1/8: loss 1.5709 (31s)")
    assert split_line("[intent] exporting to ONNX") == ("intent", "exporting to ONNX")
    assert split_line("Triton is ready") is None
    assert board.eta_s("application") == 112  # nothing started: the typical times, one after another
    board.start("risk")
    now.t += 4
    assert board.eta_s("risk") == 6 and board.eta_s("intent") == 106
    now.t += 16  # risk runs past its estimate: "nearly done", never negative
    assert board.eta_s("risk") == pytest.approx(1.0)
    board.set("risk", Phase.DONE)
    # Risk took 10 s more than typical: what is left is estimated at this machine's pace, averaged with a minute
    # at the typical one (a family of seconds says little about a family of minutes).
    assert board.pace() == pytest.approx(80 / 70)
    assert board.eta_s("intent") == pytest.approx(100 * 80 / 70)
    assert board.left_s() == pytest.approx(102 * 80 / 70)
    assert board.feed("[05:01:12] [intent] epoch 1/8: loss 1.5709") == ("intent", "epoch 1/8: loss 1.5709")
    assert board.families["intent"].phase is Phase.BUILDING and board.families["intent"].step.startswith("epoch 1/8")
    assert board.feed("[05:01:12] [other] not this board's") is None
    now.t += 50
    assert board.eta_s("intent") == pytest.approx(100 * 80 / 70 - 50)
    assert board.waiting() == ["intent", "application"]
    assert summary(board, board.waiting()) == "intent and application left to build, about 1 min 07 s"
    assert clock(42.4) == "42 s" and clock(185) == "3 min 05 s"


def test_plain_lines_when_not_a_terminal_and_a_table_on_one():
    board = Board({"risk": 10, "intent": 100})
    out = io.StringIO()
    display = Display(board, out)
    with display:
        assert not display.live
        display.progress("[intent] epoch 2/8: loss 0.19")
        display.note("intent is ready")
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("] [intent] epoch 2/8: loss 0.19") and lines[0].startswith("[")
    assert lines[1].endswith("] intent is ready")
    assert board.families["intent"].step == "epoch 2/8: loss 0.19"

    terminal = io.StringIO()
    with Display(board, terminal, live=True) as live:
        live.progress("[risk] fold 1/3: ROC AUC 0.808")
        live.note("risk is ready")
    shown = terminal.getvalue()
    # The table shows each family's state and step; a progress line is not repeated as a line of its own.
    assert "risk is ready" in shown and "fold 1/3: ROC AUC 0.808" in shown and "ETA" in shown
    assert "[risk] fold 1/3" not in shown


def test_quickest_first_and_what_composes_the_others_last():
    order = [p.name for p in build_order(list(REGISTRY), "full")]
    assert order[0] == "risk" and order[-1] == "application"
    assert order.index("intent") == len(order) - 2  # the longest training, after every other model


def test_a_failed_build_is_reported_and_its_routes_say_why(settings, tmp_path):
    """The build's child exits with an error: the pipeline is `failed`, its requests get 503 naming the reason,
    and the build goes on with the next family."""

    class Failing(BackgroundBuild):
        def command(self, pipeline):
            if pipeline is risk.PIPELINE:
                return [sys.executable, "-c", "print('[risk] training'); print('no rows in the data'); exit(3)"]
            return [sys.executable, "-c", "exit(0)"]

    out = io.StringIO()
    display = Display(BackgroundBuild.board_for([risk.PIPELINE, application.PIPELINE], "small"), out)
    build = Failing([risk.PIPELINE, application.PIPELINE], "small", tmp_path, display)
    plane = DataPlane(settings, TritonUpstream(settings), {}, pending={"risk": risk.PIPELINE}, builds=build)
    with pytest.raises(NotBuilt, match=r"^risk is still being built \(queued\); ready in about \d+ s$") as queued:
        plane.serving("risk")
    assert 1 <= queued.value.retry_after_s <= 300
    asyncio.run(build.run(plane, lambda served: None))
    assert build.failure("risk") == "`finfer build --family risk` exited with 3: no rows in the data"
    with pytest.raises(NotBuilt, match=r"^risk is not served: its build failed \(`finfer build --family risk` exited"):
        plane.serving("risk")
    assert plane.build_state("risk") == {"state": "failed", "error": build.failure("risk")}
    # The next family was tried all the same (it wrote nothing: a failure of its own).
    assert build.failure("application") == "the build ended without writing loan_application/1/policy.toml"
    assert "[risk] training" in out.getvalue() and "] [risk] failed: `finfer build" in out.getvalue()


def test_a_model_triton_refuses_fails_its_pipeline_and_is_not_loaded_at_the_next_start(tmp_path):
    """A build that writes a model Triton cannot load: the pipeline is `failed` with Triton's reason, and the
    model is taken off what a restarted Triton loads (a refused `--load-model` would stop every later start)."""
    repository = tmp_path / "repository"
    repository.mkdir()
    own = stack.bench_settings(repository, tmp_path / "state")
    triton = TritonServer(own)
    triton.models = []  # as `finfer serve` starts it while everything is still to build
    step = application.PIPELINE.triton_model
    broken = (
        "import pathlib, sys; root = pathlib.Path(sys.argv[1]); (root / 'STEP' / '1').mkdir(parents=True); "
        "(root / 'STEP' / '1' / 'policy.toml').write_text('version = 1'); "
        "(root / 'STEP' / 'config.pbtxt').write_text('not a model configuration')"
    ).replace("STEP", step)

    class Broken(BackgroundBuild):
        def command(self, pipeline):
            return [sys.executable, "-c", broken, str(repository)]

    out = io.StringIO()
    display = Display(BackgroundBuild.board_for([application.PIPELINE], "small"), out)
    build = Broken([application.PIPELINE], "small", repository, display, [triton])

    async def scenario() -> None:
        upstream = TritonUpstream(own)
        await upstream.start()
        try:
            plane = DataPlane(own, upstream, {}, pending={"application": application.PIPELINE}, builds=build)
            await build.run(plane, lambda served: pytest.fail("a model Triton refused was served"))
            with pytest.raises(NotBuilt, match=r"^application is not served: its build failed \(the model server"):
                plane.serving("application")
        finally:
            await upstream.close()

    with triton:
        asyncio.run(scenario())
    assert step in build.failure("application"), build.failure("application")
    assert triton.models == []
    assert "] [application] failed: the model server failed" in out.getvalue()


def served_without(repository: Path, copy: Path, families: set[str]) -> None:
    """`copy`: the session's repository without the models of `families` (the rest linked, not copied)."""
    skipped = {p.triton_model for p in REGISTRY if p.family in families}
    copy.mkdir()
    for folder in repository.iterdir():
        card = folder / "metrics.json"
        family = json.loads(card.read_text())["family"] if card.exists() else None
        if family not in families and folder.name not in skipped:
            (copy / folder.name).symlink_to(folder)


def test_serve_answers_what_is_built_while_it_builds_the_rest(repository, tmp_path):
    """Intent and the application are not built: `finfer serve` serves risk at once, answers 503 `not_built`
    with the build's ETA for the others, builds them one after the other, loads them into Triton and serves
    them, without a restart."""
    copy = tmp_path / "repository"
    served_without(repository, copy, {"intent", "application"})
    own = stack.bench_settings(copy, tmp_path / "state").model_copy(update={"triton_restart_backoff_s": 0.2})
    url = f"http://127.0.0.1:{own.http_port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "finfer.cli", "serve", "--profile", "small"],
            env=stack.environment(own),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(lambda: http_status(f"{url}/healthz") == 200 or serve.poll() is not None, 120, "the front")
            assert serve.poll() is None, log_path.read_text()
            with httpx.Client(base_url=url, timeout=30) as http:
                # The application is built after intent (it composes the others), which takes its training's
                # seconds at least: it is still pending now.
                refused = http.post("/v1/applications", json=application.PIPELINE.examples(1, 0)[0])
                assert refused.status_code == 503, refused.text
                error = refused.json()["error"]
                assert error["code"] == "not_built", error
                assert error["message"].startswith("application is still being built ("), error
                assert int(refused.headers["retry-after"]) >= 1
                ready = http.get("/readyz")
                assert ready.status_code == 503
                body = ready.json()
                assert body["status"] == "building", body
                assert body["state"]["risk"] == "ready" and body["state"]["application"] == "building", body
                assert body["builds"]["application"]["eta_s"] >= body["builds"]["intent"]["eta_s"] > 0, body
                with grpc.insecure_channel(f"127.0.0.1:{own.grpc_port}") as channel:
                    with pytest.raises(grpc.RpcError) as unavailable:
                        finfer_pb2_grpc.LoanApplicationsStub(channel).Evaluate(finfer_pb2.LoanApplicationRequest())
                    assert unavailable.value.code() is grpc.StatusCode.UNAVAILABLE
                    assert "application is still being built" in unavailable.value.details()
                # Risk was built: it answers while the rest is built.
                assert http.post("/v1/risk/score", json=fresh_applicant()).status_code == 200

                # Risk stays ready while the others are built and loaded (Triton's own readiness is false while
                # it loads a model: the front asks each model's).
                risk_states: set[str] = set()

                def all_ready() -> bool:
                    answer = http.get("/readyz")
                    risk_states.add(answer.json()["state"]["risk"])
                    return answer.status_code == 200 or serve.poll() is not None

                wait_until(all_ready, 300, "all built")
                assert serve.poll() is None, log_path.read_text()
                assert risk_states == {"ready"}, risk_states
                message = intent.PIPELINE.examples(1, 0)[0]
                answered = http.post(intent.PIPELINE.http_path, json=message)
                assert answered.status_code == 200, answered.text
                decided = http.post("/v1/applications", json=application.PIPELINE.examples(1, 1)[0])
                assert decided.status_code == 200 and decided.json()["decision"] in {"approve", "review", "decline"}
                # The built routes show their request schema now (a pending route shows an empty object).
                schema = http.get("/openapi.json").json()["paths"][intent.PIPELINE.http_path]["post"]
                assert schema["requestBody"]["content"]["application/json"]["schema"].get("properties"), schema

                # Triton killed: restarted by its supervisor, it loads what was built while serving too.
                os.kill(stack.find_child(serve.pid, "bin/tritonserver"), signal.SIGKILL)
                wait_until(lambda: http_status(f"{url}/readyz") == 503, 10, "readyz to see Triton gone")
                wait_until(lambda: http_status(f"{url}/readyz") == 200 or serve.poll() is not None, 120, "restarted")
                again = http.post(intent.PIPELINE.http_path, json=intent.PIPELINE.examples(1, 2)[0])
                assert again.status_code == 200, again.text
        finally:
            serve.send_signal(signal.SIGINT)
            try:
                code = serve.wait(timeout=60)
            except subprocess.TimeoutExpired:
                serve.kill()
                raise
    shown = log_path.read_text()
    assert code == 0, shown
    assert "finfer front: serving" in shown and "left to build, about" in shown, shown
    assert "] [intent] epoch 1/" in shown, shown  # plain progress lines: the output is not a terminal
    assert "intent is ready (intent built in" in shown and "application is ready" in shown, shown
