"""The Triton replicas behind the front: which are in rotation, which is least busy, and finding them.

A replica leaves the rotation when a call to it fails as a dead server fails (UNAVAILABLE) and a liveness
check confirms it; a watcher checks it every `replica_check_s` and puts it back once it answers ready.
Entries written dns:///name:port stand for every address the name resolves to (a Kubernetes headless
Service lists one per ready Triton pod) and are resolved again on the same interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field

import grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

from finfer.front import metrics

_DNS = "dns:///"
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    # Reconnect soon after Triton comes back instead of gRPC's default backoff of up to 2 minutes.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


@dataclass(eq=False)
class Replica:
    address: str
    channel: grpc.aio.Channel
    stub: service_pb2_grpc.GRPCInferenceServiceStub
    in_rotation: bool = True
    checking: bool = False  # one rotation check at a time, however many calls failed at once
    inflight: int = 0
    ready: dict[str, bool] = field(default_factory=dict)  # model → ready, at the last readiness check

    @classmethod
    def connect(cls, address: str) -> Replica:
        channel = grpc.aio.insecure_channel(address, options=_CHANNEL_OPTIONS)
        return cls(address, channel, service_pb2_grpc.GRPCInferenceServiceStub(channel))

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        self.inflight += 1
        try:
            yield
        finally:
            self.inflight -= 1

    async def answers(self, timeout_s: float) -> bool | None:
        """Triton's own readiness (every model it was told to load is loaded); None: no answer in time."""
        try:
            reply = await self.stub.ServerReady(service_pb2.ServerReadyRequest(), timeout=timeout_s)
        except grpc.aio.AioRpcError as exc:
            return None if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED else False
        return reply.ready


def split_targets(targets: Sequence[str]) -> tuple[list[str], list[str]]:
    """Fixed host:port endpoints, and the host:port of each dns:/// entry."""
    fixed = [t for t in targets if not t.startswith(_DNS)]
    names = [t.removeprefix(_DNS) for t in targets if t.startswith(_DNS)]
    return fixed, names


async def resolve(name: str) -> list[str]:
    """Every address of `name` (host:port), as host:port strings; none when it does not resolve."""
    host, _, port = name.rpartition(":")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    except OSError:
        return []
    addresses = []
    for family, *_, sockaddr in infos:
        ip = sockaddr[0]
        addresses.append(f"[{ip}]:{port}" if family == socket.AF_INET6 else f"{ip}:{port}")
    return sorted(set(addresses))


class ReplicaPool:
    def __init__(self, targets: Sequence[str], check_s: float) -> None:
        self.fixed, self.names = split_targets(targets)
        self.check_s = check_s
        self.replicas: dict[str, Replica] = {}
        self._resolved: dict[str, list[str]] = {}  # name → the addresses it last resolved to
        self._turn = itertools.count()

    async def start(self) -> None:
        await self._discover()

    async def _discover(self) -> None:
        """Connect to new addresses, drop those a name no longer lists (fixed ones always stay)."""
        wanted = list(self.fixed)
        for name in self.names:
            # A name that resolves to nothing (a DNS blip) keeps what it had: better a dead replica, which a
            # call finds at once, than none.
            found = await resolve(name) or self._resolved.get(name, [])
            self._resolved[name] = found
            wanted += found
        for address in wanted:
            if address not in self.replicas:
                self.replicas[address] = Replica.connect(address)
                metrics.REPLICA_IN_ROTATION.labels(address).set(1)
        for address in set(self.replicas) - set(wanted):
            gone = self.replicas.pop(address)
            metrics.REPLICA_IN_ROTATION.remove(address)
            await gone.channel.close(grace=5)  # calls in flight on it finish first

    def pick(self, avoid: Collection[Replica], unusable: Callable[[Replica], bool]) -> Replica | None:
        """The least busy replica in rotation, not in `avoid` (tried already) and not `unusable` for this call;
        ties go round the replicas in turn. With none in rotation, one out of rotation is tried all the same:
        it may be back before the watcher has seen it, and a dead one refuses at once."""
        usable = [r for r in self.replicas.values() if r not in avoid and not unusable(r)]
        candidates = [r for r in usable if r.in_rotation] or usable
        if not candidates:
            return None
        start = next(self._turn) % len(candidates)
        ordered = candidates[start:] + candidates[:start]
        return min(ordered, key=lambda r: r.inflight)

    async def check(self, replica: Replica) -> None:
        """After a call failed as a dead or stopping server fails: out of rotation if it is one.

        A model may answer UNAVAILABLE too (the shared fraud graph's Redis is down) from a server that is fine,
        and a busy server may answer its health check late: neither takes a replica out. Only a lost connection
        does, or the server itself saying it is not ready (it is shutting down).
        """
        if not replica.in_rotation or replica.checking:
            return
        replica.checking = True
        try:
            connected = replica.channel.get_state() == grpc.ChannelConnectivity.READY
            if not connected or await replica.answers(timeout_s=2.0) is False:
                self._rotation(replica, False)
        finally:
            replica.checking = False

    def _rotation(self, replica: Replica, in_rotation: bool) -> None:
        replica.in_rotation = in_rotation
        replica.ready.clear()
        metrics.REPLICA_IN_ROTATION.labels(replica.address).set(1 if in_rotation else 0)
        state = "back in rotation" if in_rotation else "out of rotation: it does not answer"
        print(f"finfer front: Triton {replica.address} {state}", file=sys.stderr, flush=True)

    async def watch(self) -> None:
        """Re-resolve names and bring back replicas that answer again, every `check_s`."""
        while True:
            await asyncio.sleep(self.check_s)
            if self.names:
                await self._discover()
            for replica in list(self.replicas.values()):
                if not replica.in_rotation and await replica.answers(timeout_s=2.0):
                    self._rotation(replica, True)

    async def close(self) -> None:
        for replica in self.replicas.values():
            await replica.channel.close()
