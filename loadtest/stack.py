"""Start a private Triton + front for benchmarks, on free ports, and read their CPU time from /proc."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from google.protobuf import text_format

from finfer.exporters import model_config
from finfer.settings import Settings
from finfer.triton_server import TritonServer

_TICKS = os.sysconf("SC_CLK_TCK")


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def bench_settings(repository: Path, state_dir: Path) -> Settings:
    t_http, t_grpc, t_metrics, http, grpc_port = free_ports(5)
    return Settings(
        model_repository=repository,
        state_dir=state_dir,
        triton_http_port=t_http,
        triton_grpc_port=t_grpc,
        triton_metrics_port=t_metrics,
        http_port=http,
        grpc_port=grpc_port,
        triton_exit_timeout_s=2,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process, from /proc (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


def tree_cpu_seconds(pid: int) -> float:
    """A process and its children (Triton and its Python-backend stubs)."""
    return cpu_seconds(pid) + sum(cpu_seconds(c) for c in children(pid))


def find_child(pid: int, word: str) -> int | None:
    """The first child process whose command line mentions `word` (a Python-backend model's stub)."""
    for child in children(pid):
        try:
            if word in Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace"):
                return child
        except OSError:
            continue
    return None


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def metric(url: str, name: str, **labels: str) -> float:
    """Sum of a Prometheus sample over series whose labels include `labels`."""
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if not match:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


def without_dynamic_batching(source: Path, target: Path) -> Path:
    """A copy of a repository whose configs have dynamic batching removed (weights shared by copy)."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    for config in target.glob("*/config.pbtxt"):
        parsed = model_config.parse(config.read_text())
        parsed.ClearField("dynamic_batching")
        config.write_text(text_format.MessageToString(parsed))
    return target


@contextmanager
def triton(settings: Settings) -> Iterator[TritonServer]:
    server = TritonServer(settings, log_path=settings.state_dir / f"triton-{settings.triton_grpc_port}.log")
    server.start()
    server.wait_ready()
    try:
        yield server
    finally:
        server.stop()


def environment(settings: Settings) -> dict[str, str]:
    """This process's environment with `settings` as FINFER_* variables, for a front in a child process."""
    env = dict(os.environ)
    for name, value in settings.model_dump(mode="json").items():
        if value is not None:
            env[f"FINFER_{name.upper()}"] = json.dumps(value) if isinstance(value, dict | list) else str(value)
    return env


@contextmanager
def ready_process(
    command: list[str], url: str, what: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """Start `command` and yield once `url` answers 200; stop it on exit."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not become ready")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=15)


@contextmanager
def front(settings: Settings) -> Iterator[subprocess.Popen]:
    url = f"http://{settings.front_host}:{settings.http_port}/readyz"
    with ready_process([sys.executable, "-m", "finfer.server"], url, "the front", environment(settings)) as process:
        yield process


class RedisServer:
    """A private redis-server on a free port; with `persist` it keeps an append-only file, so that a kill and
    a start (as `finfer chaos` does) keep everything it had acknowledged."""

    def __init__(self, workdir: Path, persist: bool = True) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run `make tools`")
        self.binary = binary
        self.workdir = workdir
        self.persist = persist
        (self.port,) = free_ports(1)
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout_s: float = 20.0) -> None:
        import redis

        self.workdir.mkdir(parents=True, exist_ok=True)
        durability = ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else ["--appendonly", "no"]
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.process = subprocess.Popen([*command, *durability, "--dir", str(self.workdir)], stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_timeout=1)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    pass
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {self.port} did not start")
                time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=15)
            self.process = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def plain_endpoint(repository: Path, pipeline: str, port: int) -> Iterator[subprocess.Popen]:
    """The bench's baseline: a pipeline's steps in a plain FastAPI app (loadtest/baselines.py)."""
    command = [sys.executable, "-m", "finfer.loadtest.baselines", "--pipeline", pipeline]
    command += ["--repository", str(repository)]
    url = f"http://127.0.0.1:{port}/openapi.json"
    environment = os.environ | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}  # as Triton's steps run
    with ready_process([*command, "--port", str(port)], url, f"the plain {pipeline} baseline", environment) as process:
        yield process


class PostgresServer:
    """A private PostgreSQL cluster (Debian's postgresql, installed by `make tools`) in a scratch folder, on a
    free port, with trust authentication for the user `finfer` on 127.0.0.1. PostgreSQL refuses to run as root:
    as root, the cluster belongs to the `postgres` user, in a folder of /tmp it can reach."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.workdir = Path(tempfile.mkdtemp(prefix="finfer-postgres-"))
        (self.port,) = free_ports(1)
        self.data = self.workdir / "data"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*prefix, *command], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode:
            raise RuntimeError(f"{Path(command[0]).name} failed ({done.returncode}): {done.stderr.strip()}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://finfer@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "finfer", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=on"
        log = str(self.workdir / "postgres.log")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", log, "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        """`immediate` is a crash as far as clients can tell: connections drop, nothing is flushed politely."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def __enter__(self) -> PostgresServer:
        self.init()
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)


def postgres_bin() -> Path:
    """Debian's PostgreSQL programs (initdb and pg_ctl are not on PATH there)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `make tools`")
    return found[-1].parent
