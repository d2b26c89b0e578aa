"""Session fixtures: a small-profile repository, the real Triton and the real front on free ports."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from finfer.exporters.base import BuildOptions, Profile, export
from finfer.loadtest import stack
from finfer.pipelines.registry import REGISTRY
from finfer.settings import Settings
from finfer.store.database import connect
from finfer.triton_server import TritonServer


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} not within {timeout}s")


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@pytest.fixture(scope="session")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model_repository")
    for pipeline in REGISTRY:
        export(pipeline.make_exporter(), BuildOptions(out=out, profile=Profile.SMALL), progress=lambda _: None)
    return out


@pytest.fixture(scope="session")
def settings(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # Small limits so that the tests can reach them; a fixed salt so that keys are comparable.
    limits = {
        "triton_exit_timeout_s": 1,
        "max_batch_rows": 64,
        "max_body_bytes": 64 * 1024,
        "max_application_bytes": 2 * 1024 * 1024,
        # Background probes would add Triton calls to tests that count them; tests/test_stub_repair.py
        # runs its own front with them on.
        "probe_interval_s": 0,
        # A drift window the tests can fill.
        "drift_window": 300,
        "drift_step": 50,
    }
    return stack.bench_settings(repository, tmp_path_factory.mktemp("state")).model_copy(
        update={**limits, "cache_salt": "test-salt-0123456789"}
    )


@pytest.fixture(scope="session")
def triton(settings: Settings) -> Iterator[TritonServer]:
    server = TritonServer(settings)
    server.start()
    server.wait_ready(timeout=120)
    yield server
    server.stop()


@dataclass
class Front:
    http_url: str
    grpc_target: str
    process: subprocess.Popen
    log: Path | None = None


@pytest.fixture(scope="session")
def front(settings: Settings, triton: TritonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    log = (tmp_path_factory.mktemp("front") / "front.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "finfer.server"],
        env=stack.environment(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{settings.http_port}"
    try:
        wait_until(lambda: http_status(f"{url}/readyz") == 200 or process.poll() is not None, 60, "front ready")
        if process.poll() is not None:
            raise RuntimeError(f"the front exited:\n{Path(log.name).read_text()}")
        yield Front(url, f"127.0.0.1:{settings.grpc_port}", process, Path(log.name))
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@contextmanager
def own_front(settings: Settings, log: Path) -> Iterator[subprocess.Popen]:
    """A front of a test's own (its settings, its ports), its output in `log`, stopped on exit."""
    with log.open("wb") as out:
        command = [sys.executable, "-m", "finfer.server"]
        process = subprocess.Popen(command, env=stack.environment(settings), stdout=out, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{settings.http_port}/readyz"
            wait_until(lambda: http_status(url) == 200 or process.poll() is not None, 60, "the front")
            assert process.poll() is None, log.read_text()
            yield process
        finally:
            process.terminate()
            process.wait(timeout=15)


@contextmanager
def front_of(settings: Settings, workdir: Path, **update: Any) -> Iterator[Settings]:
    """A front of a test's own on free ports, its state and log in `workdir`, with `update` to `settings`."""
    workdir.mkdir(parents=True, exist_ok=True)
    http, grpc_port = stack.free_ports(2)
    own = settings.model_copy(update={"http_port": http, "grpc_port": grpc_port, "state_dir": workdir, **update})
    with own_front(own, workdir / "front.log"):
        yield own


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free port (installed by `make tools`), empty, nothing saved to disk."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: run `make tools`")
    with stack.RedisServer(tmp_path_factory.mktemp("redis"), persist=False) as server:
        yield server.url()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium (installed by `make tools`) driven by Playwright: no browser is downloaded. Module
    scope: Playwright's sync API keeps an event loop running in this thread until it stops, and other
    modules' tests call asyncio.run."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed: run `make tools`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Root (CI, containers) cannot use chromium's sandbox.
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[stack.PostgresServer]:
    with stack.PostgresServer() as server:
        yield server


_databases = iter(range(1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty database of each kind (a fresh PostgreSQL database per test)."""
    url = None
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        url = server.create_database(f"store_{next(_databases)}")
    made = connect(Settings(state_dir=tmp_path, database_url=url))
    yield made
    made.dispose()
