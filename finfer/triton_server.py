"""Locate, start, supervise and stop the embedded Triton server shipped in the nvidia-pytriton wheel.

The Python backend's stub embeds a libpython and finds its packages through PATH (PYTHONPATH alone
is not enough), and needs the wheel's libraries and this interpreter's libpython on LD_LIBRARY_PATH;
otherwise it loads the system's libpython and model loading fails (`No module named numpy`). So the
environment is built here once. This module runs on the host; what runs inside Triton is runtime/.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from finfer.application.policy import POLICY_FILE_VARIABLE
from finfer.models.fraud.graph_redis import COMPACT_EVERY_VARIABLE
from finfer.runtime.cpu_priority import HEAVY_CPUS_VARIABLE
from finfer.runtime.in_process import models_to_load
from finfer.settings import Settings
from finfer.shared_memory import reclaim_shared_memory

_PR_SET_PDEATHSIG = 1


class TritonError(RuntimeError):
    """Triton could not be found, started or made ready."""


@dataclass(frozen=True)
class TritonInstall:
    binary: Path
    libs: Path
    python_backend: Path
    stub: Path
    caches: Path


def locate() -> TritonInstall:
    try:
        import pytriton
    except ImportError as exc:
        raise TritonError("nvidia-pytriton is not installed: run `make setup`") from exc
    root = Path(pytriton.__file__).resolve().parent / "tritonserver"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    install = TritonInstall(
        binary=root / "bin" / "tritonserver",
        libs=root.parent.parent / "nvidia_pytriton.libs",
        python_backend=root / "backends" / "python",
        stub=root / "python_backend_stubs" / version / "triton_python_backend_stub",
        caches=root / "caches",
    )
    for path in (install.binary, install.libs, install.python_backend, install.stub, install.caches):
        if not path.exists():
            raise TritonError(f"the pytriton wheel lacks {path}; reinstall nvidia-pytriton==0.7.0")
    return install


def backend_directory(install: TritonInstall, state_dir: Path) -> Path:
    """A backend folder of our own: the wheel's Python backend plus the stub for this interpreter.

    Built beside the project instead of inside site-packages so the installed wheel stays untouched.
    """
    python = state_dir / "backends" / "python"
    python.mkdir(parents=True, exist_ok=True)
    links = {
        "libtriton_python.so": install.python_backend / "libtriton_python.so",
        "triton_python_backend_utils.py": install.python_backend / "triton_python_backend_utils.py",
        "triton_python_backend_stub": install.stub,
    }
    for name, target in links.items():
        link = python / name
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    return python.parent


def server_environment(install: TritonInstall) -> dict[str, str]:
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([venv_bin, env.get("PATH", "")])
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        p for p in [str(install.libs), libdir, env.get("LD_LIBRARY_PATH", "")] if p
    )
    # One thread per model instance: on a 2-core machine oversubscription costs more than it gives.
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    # glibc's allocator, for Triton and every stub it starts. Past its first free, glibc raises its mmap
    # threshold to the largest block freed (up to 32 MiB), so a page's 2-5 MiB arrays then come from the heap,
    # whose top is handed back only when nothing lies above it: the OCR instances' RSS swung by ±10% with
    # the pages read. A fixed threshold keeps every such array in its own mapping, returned whole on free.
    # Two arenas, not eight a core: fewer half-empty heaps held by Triton's many threads. The soak, with and
    # without: docs/operations.md.
    env.setdefault("MALLOC_MMAP_THRESHOLD_", str(1 << 20))
    env.setdefault("MALLOC_ARENA_MAX", "2")
    return env


# quantile:allowed error, as Triton's --metrics-config summary_quantiles expects them.
SUMMARY_QUANTILES = "0.5:0.05,0.9:0.01,0.99:0.001"


def server_arguments(
    install: TritonInstall, settings: Settings, backends: Path, models: Sequence[str] | None = None
) -> list[str]:
    """`models`: the models to load at start; None: every model the repository holds (but steps run in process)."""
    if models is None:
        models = models_to_load(settings.model_repository) or ["*"]
    args = [
        str(install.binary),
        f"--model-repository={settings.model_repository}",
        f"--backend-directory={backends}",
        f"--cache-directory={install.caches}",
        f"--http-address={settings.triton_host}",
        f"--http-port={settings.triton_http_port}",
        f"--grpc-address={settings.triton_host}",
        f"--grpc-port={settings.triton_grpc_port}",
        f"--metrics-address={settings.triton_host}",
        f"--metrics-port={settings.triton_metrics_port}",
        f"--exit-timeout-secs={settings.triton_exit_timeout_s}",
        "--allow-metrics=true",
        "--allow-gpu-metrics=false",
        "--strict-readiness=true",
        # Explicit model control, every served model loaded at start: the front reloads a model whose Python
        # stub died (a plain `load` of a loaded model is a no-op; unload then load starts a fresh stub), and
        # `finfer serve` loads each family built while it serves.
        "--model-control-mode=explicit",
        *(f"--load-model={name}" for name in models),
        # Per-model p50/p99 for dashboards and alerts: Triton exports latency counters only unless asked.
        "--metrics-config=summary_latencies=true",
        f"--metrics-config=summary_quantiles={SUMMARY_QUANTILES}",
        f"--log-verbose={settings.triton_log_verbose}",
    ]
    if settings.triton_cache_bytes:
        args.append(f"--cache-config=local,size={settings.triton_cache_bytes}")
    return args


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: Triton is killed if finfer dies without cleanup.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def is_ready(http_url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{http_url}/v2/health/ready", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class TritonServer:
    """The embedded Triton as a supervised child process (own process group, dies with us)."""

    def __init__(self, settings: Settings, log_path: Path | None = None) -> None:
        self.settings = settings
        self.install = locate()
        self.log_path = log_path or settings.state_dir / "triton.log"
        # The models to load at each start; None: every built model. `finfer serve` names them while it builds
        # (a family being built is half written) and adds each family it loads, so a restart loads it too.
        self.models: list[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The server's process id (benchmarks read its CPU time from /proc)."""
        if self._process is None:
            raise RuntimeError("Triton is not started")
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def start(self, progress: Callable[[str], None] = lambda _: None) -> None:
        if self.running:
            return
        if not self.settings.model_repository.is_dir():
            raise TritonError(f"model repository {self.settings.model_repository} does not exist: run `finfer build`")
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        backends = backend_directory(self.install, self.settings.state_dir)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # Appended to, so that what a crashed server wrote is still there after the supervisor restarts it.
        log = self.log_path.open("ab")
        freed = reclaim_shared_memory()
        if freed:
            progress(f"removed {len(freed)} shared-memory regions that stopped or killed Tritons left in /dev/shm")
        progress(f"starting Triton on {self.settings.triton_grpc_url} (log: {self.log_path})")
        self._process = subprocess.Popen(
            server_arguments(self.install, self.settings, backends, self.models),
            env=self._environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()
        atexit.register(self.stop)

    def _environment(self) -> dict[str, str]:
        env = server_environment(self.install)
        # The fraud graph logs persisted applications: in a shared Redis stream if set, else under the state dir.
        env["FINFER_STATE_DIR"] = str(self.settings.state_dir.resolve())
        # Settings Triton's steps read from the environment (the fraud graph's Redis, the cores of heavy stubs, the
        # decision policy in force): this server's own, never ones inherited from the caller.
        policy = self.settings.policy_file
        for variable, value in (
            ("FINFER_FRAUD_GRAPH_URL", self.settings.fraud_graph_url),
            (COMPACT_EVERY_VARIABLE, repr(self.settings.fraud_graph_compact_s)),
            (HEAVY_CPUS_VARIABLE, self.settings.heavy_cpus),
            (POLICY_FILE_VARIABLE, policy and policy.resolve()),
        ):
            env.pop(variable, None)
            if value:
                env[variable] = str(value)
        return env

    def wait_ready(self, timeout: float | None = None, progress: Callable[[str], None] = lambda _: None) -> None:
        limit = timeout or self.settings.triton_startup_timeout_s
        deadline = time.monotonic() + limit
        last_note = 0.0
        while time.monotonic() < deadline:
            if not self.running:
                code = self._process.returncode if self._process else None
                raise TritonError(f"Triton exited with code {code} while starting:\n{self.log_tail()}")
            if is_ready(self.settings.triton_http_url):
                progress("Triton is ready")
                return
            if time.monotonic() - last_note > 5:
                progress("waiting for Triton to load its models ...")
                last_note = time.monotonic()
            time.sleep(0.2)
        self.stop()
        raise TritonError(f"Triton was not ready after {limit:g}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGINT to the server, a bounded wait, then SIGKILL to its whole group (server and Python stubs).

        Only the server is interrupted: it finishes its in-flight requests and then stops its stubs; a stub
        interrupted with it would fail those requests first.
        """
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            try:
                process.send_signal(signal.SIGINT)
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            except ProcessLookupError:
                pass
        # Stubs of a server that died abruptly may linger in its group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        self._process = None
        atexit.unregister(self.stop)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no Triton log)"
        return "\n".join(text[-lines:])

    def __enter__(self) -> TritonServer:
        self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


REPLICA_PORT_STEP = 100
MAX_REPLICAS = 8


def replica_settings(settings: Settings, replicas: int) -> list[Settings]:
    """Settings of `replicas` embedded Tritons on one machine: replica i listens on the configured Triton
    ports plus 100 × i. Raises ValueError when a port would collide with another replica's or the front's."""
    if not 1 <= replicas <= MAX_REPLICAS:
        raise ValueError(f"replicas must be between 1 and {MAX_REPLICAS}, got {replicas}")
    out = []
    for i in range(replicas):
        step = REPLICA_PORT_STEP * i
        ports = {
            "triton_http_port": settings.triton_http_port + step,
            "triton_grpc_port": settings.triton_grpc_port + step,
            "triton_metrics_port": settings.triton_metrics_port + step,
        }
        out.append(settings.model_copy(update=ports))
    taken = [settings.http_port, settings.grpc_port]
    taken += [port for s in out for port in (s.triton_http_port, s.triton_grpc_port, s.triton_metrics_port)]
    if len(set(taken)) != len(taken) or max(taken) > 65535:
        raise ValueError(f"{replicas} replicas need free, distinct ports; these collide or overflow: {sorted(taken)}")
    return out


@dataclass(frozen=True)
class RestartBudget:
    """How `finfer serve` restarts a Triton that exited on its own: after a backoff that doubles with each
    recent restart, and not more than `max_restarts` times in `window_s` (a crash loop needs a person)."""

    max_restarts: int
    window_s: float
    backoff_s: float
    max_backoff_s: float = 30.0

    def delay(self, now: float, restarts: Sequence[float]) -> float | None:
        """Seconds to wait before the next restart, given the times of earlier ones; None: give up."""
        recent = [t for t in restarts if now - t < self.window_s]
        if len(recent) >= self.max_restarts:
            return None
        return min(self.backoff_s * 2 ** len(recent), self.max_backoff_s)


class Supervisor:
    """Watches a started TritonServer from a thread and restarts it when it exits on its own."""

    def __init__(
        self,
        server: TritonServer,
        budget: RestartBudget,
        on_restart: Callable[[], None] = lambda: None,
        progress: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.server = server
        self.budget = budget
        self.on_restart = on_restart
        self.progress = progress
        self.restarts: list[float] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="triton-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (before stopping Triton itself, so that its exit is not taken for a crash)."""
        self._stopping.set()
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        while not self._stopping.wait(0.2):
            if self.server.running:
                continue
            code = self.server.returncode
            delay = self.budget.delay(time.monotonic(), self.restarts)
            if delay is None:
                self.progress(
                    f"Triton exited (code {code}) {len(self.restarts)} times in {self.budget.window_s:g}s; "
                    "not restarting it again:\n" + self.server.log_tail()
                )
                return
            self.progress(f"Triton exited (code {code}); restarting it in {delay:g}s")
            if self._stopping.wait(delay):
                return
            self.restarts.append(time.monotonic())
            try:
                self.server.stop()  # its Python stubs may outlive it in its process group
                self.server.start(self.progress)
                self.server.wait_ready(progress=self.progress)
            except TritonError as error:
                # A start that hangs (a Python stub's instance that never finishes initialising, seen after a
                # SIGKILL under load) keeps its process alive: stopped, it is restarted like one that exited.
                self.progress(f"Triton did not come back: {error}; stopping it to start it again")
                self.server.stop()
                continue
            self.on_restart()
