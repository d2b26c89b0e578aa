"""The Python backend's shared-memory regions in /dev/shm, which killed Tritons and stubs leave behind."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

SHM_REGIONS = "triton_python_backend_shm_region_*"


def reclaim_shared_memory(shm: Path = Path("/dev/shm"), proc: Path = Path("/proc")) -> list[Path]:
    """Remove the Python backend's shared-memory regions that no live process holds open or maps.

    A Triton or stub that is killed never unlinks its regions, and /dev/shm is memory: a chaos drill's
    worth of kills on this machine left 19 GB there, until the OOM killer took the test run. A region
    nobody has open or mapped can never be used again, so every start of a Triton frees those first.
    """
    regions = set(shm.glob(SHM_REGIONS))
    if not regions:
        return []
    for process in proc.iterdir():
        if not process.name.isdigit():
            continue
        try:
            held = {Path(os.readlink(fd)) for fd in (process / "fd").iterdir()}
            maps = (process / "maps").read_text()
        except (FileNotFoundError, ProcessLookupError):  # it exited meanwhile
            continue
        except PermissionError:
            # Only Triton and its stubs use these regions: another process we may not inspect (a sandbox's
            # init) holds none. A Triton we may not inspect might: then free nothing.
            if _is_triton(process):
                return []
            continue
        regions -= held
        regions -= {r for r in regions if r.name in maps}
        if not regions:  # every one is in use: no need to look further
            return []
    freed = []
    for region in sorted(regions):
        with contextlib.suppress(FileNotFoundError):
            region.unlink()
            freed.append(region)
    return freed


def _is_triton(process: Path) -> bool:
    try:
        command = (process / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return b"tritonserver" in command or b"triton_python_backend_stub" in command
