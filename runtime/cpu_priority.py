"""A heavy model's stub moves itself to the background, so that the operating system runs the light pipelines first.

On a few cores a page of OCR (0.3-0.9 CPU-seconds) and a credit score (a millisecond) share one run queue that
Triton cannot see: a light request's process waited out the heavy stubs' time slices (risk p50 15 ms against
3 ms idle). Linux's SCHED_IDLE class runs a thread only when no other wants the core, and a waking normal
thread preempts it at once; the heavy stub still gets every cycle nobody else wants, so heavy throughput alone
is unchanged. The price is stated in docs/isolation.md: light work that saturates the machine starves heavy
work, whose requests then end at the front's admission bound with 503 and Retry-After.
"""

from __future__ import annotations

import os

BACKGROUND_NICE = 19  # where SCHED_IDLE is refused (another kernel), the lowest ordinary priority
# The cores a heavy stub is kept to (a Linux CPU list, "1" or "2-3"), from the setting heavy_cpus.
HEAVY_CPUS_VARIABLE = "FINFER_HEAVY_CPUS"


def cpu_list(text: str) -> set[int]:
    """The cores of a Linux CPU list: "0,2-3" → {0, 2, 3}."""
    cores: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        cores.update(range(int(first), int(last or first) + 1))
    return cores


def to_background() -> None:
    """Every thread of this process to SCHED_IDLE at nice 19, on the cores FINFER_HEAVY_CPUS names if set. Linux
    keeps all three per thread: called once the model is loaded, it covers the pools onnxruntime started, and
    a thread started later inherits them from its creator."""
    cores = os.environ.get(HEAVY_CPUS_VARIABLE)
    allowed = cpu_list(cores) & os.sched_getaffinity(0) if cores else set()
    for task in os.listdir("/proc/self/task"):
        tid = int(task)
        try:
            os.setpriority(os.PRIO_PROCESS, tid, BACKGROUND_NICE)
            os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
            if allowed:  # cores this machine lacks are left out; none left: every core, as unset
                os.sched_setaffinity(tid, allowed)
        except (ProcessLookupError, PermissionError, OSError):
            continue  # a thread that ended meanwhile; or no SCHED_IDLE here, and nice 19 stands


def in_background(pid: int | str = "self") -> bool:
    """Whether every thread of the process runs in the background (what the tests check of a heavy stub)."""
    tasks = os.listdir(f"/proc/{pid}/task")
    return all(os.sched_getscheduler(int(t)) == os.SCHED_IDLE for t in tasks)
