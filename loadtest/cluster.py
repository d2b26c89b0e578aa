"""A local cluster for fault drills and soaks: a persistent Redis (the shared fraud graph and the shared
cache), N supervised Triton replicas on free ports, and the front failing over between them."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from finfer.loadtest import stack
from finfer.settings import Settings
from finfer.triton_server import RestartBudget, Supervisor, TritonError, TritonServer


@dataclass
class Cluster:
    settings: Settings  # the front's: triton_urls lists the replicas
    replicas: list[TritonServer]
    supervisors: list[Supervisor]
    redis: stack.RedisServer
    front: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.http_port}"

    def kill_replica(self, i: int) -> None:
        """SIGKILL one Triton server (its supervisor restarts it, as `finfer serve` does)."""
        os.kill(self.replicas[i].pid, signal.SIGKILL)

    def kill_stub(self, i: int, model: str) -> int:
        pid = stack.find_child(self.replicas[i].pid, f"{model}_0_0")
        if pid is None:
            raise RuntimeError(f"replica {i} has no stub process for {model}")
        os.kill(pid, signal.SIGKILL)
        return pid

    def restart_replica(self, i: int, starts: int = 3) -> None:
        """A rolling-restart step: stop one replica gracefully (SIGINT, in-flight calls finish), start it again.

        A start that dies is started again, up to `starts` times, as its supervisor would restart it: once in a
        full run a restarted Triton aborted while its Python stubs initialised (boost::interprocess::
        lock_exception, the Python backend's shared memory), which the supervisor is there for."""
        self.supervisors[i].stop()
        self.replicas[i].stop()
        for start in range(1, starts + 1):
            self.replicas[i].start()
            try:
                self.replicas[i].wait_ready()
                break
            except TritonError:
                if start == starts:
                    raise
                self.replicas[i].stop()
        self.supervisors[i] = _supervised(self.replicas[i])

    def processes(self) -> dict[str, int]:
        """Every process of the cluster by a stable name: the front, each Triton and each of its stubs."""
        found = {"front": self.front.pid}
        for i, replica in enumerate(self.replicas):
            found[f"triton-{i}"] = replica.pid
            for child in stack.children(replica.pid):
                found[f"triton-{i}/{_stub_name(child)}"] = child
        return found


def _stub_name(pid: int) -> str:
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return str(pid)
    names = [w.decode(errors="replace") for w in words if b"_0_" in w]  # the instance: <model>_0_<i>
    return names[0] if names else str(pid)


def _supervised(replica: TritonServer) -> Supervisor:
    supervisor = Supervisor(replica, RestartBudget(max_restarts=5, window_s=600, backoff_s=0.5))
    supervisor.start()
    return supervisor


def replica_ports(settings: Settings) -> Settings:
    http, grpc_port, metrics = stack.free_ports(3)
    return settings.model_copy(
        update={"triton_http_port": http, "triton_grpc_port": grpc_port, "triton_metrics_port": metrics}
    )


@contextmanager
def cluster(
    repository: Path, workdir: Path, replicas: int = 2, shared_graph: bool = True, **settings: object
) -> Iterator[Cluster]:
    """Start everything, yield once the front is ready, stop everything (also on error). `settings` apply to
    Triton and the front. Without `shared_graph` the fraud graph is each Triton's own (journaled), as with
    one replica by default."""
    with ExitStack() as stop:
        redis = stack.RedisServer(workdir / "redis", persist=True)
        redis.start()
        stop.callback(redis.stop)
        base = stack.bench_settings(repository, workdir / "state").model_copy(
            update={
                "fraud_graph_url": redis.url(1) if shared_graph else None,
                "redis_url": redis.url(0),
                "triton_exit_timeout_s": 5,
                **settings,
            }
        )
        servers = []
        for i in range(replicas):
            own = replica_ports(base)
            server = TritonServer(own, log_path=workdir / f"triton-{i}.log")
            stop.callback(server.stop)
            server.start()
            servers.append(server)
        supervisors = []
        for server in servers:
            server.wait_ready()
            supervisors.append(_supervised(server))
        front = base.model_copy(update={"triton_urls": ",".join(s.settings.triton_grpc_url for s in servers)})
        process = stop.enter_context(stack.front(front))
        running = Cluster(front, servers, supervisors, redis, process)
        stop.callback(lambda: [s.stop() for s in running.supervisors])
        yield running
