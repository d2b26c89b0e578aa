"""A bounded local spool: records the database could not take, in order, on disk (fsynced) until it is back.

One JSON line a record. Only the recorder's one thread touches it; a spool left by a stopped front is
drained by the next one that starts on the same state directory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from finfer.store.decisions import Entry


class SpoolFull(Exception):
    pass


class Spool:
    def __init__(self, path: Path, max_records: int) -> None:
        self.path = path
        self.max_records = max_records
        path.parent.mkdir(parents=True, exist_ok=True)
        self._count = len(self._lines()) if path.exists() else 0

    def __len__(self) -> int:
        return self._count

    def _lines(self) -> list[bytes]:
        return [line for line in self.path.read_bytes().splitlines() if line.strip()]

    def append(self, entries: Sequence[Entry]) -> None:
        """Keep `entries` durably, or refuse them all (SpoolFull) when they would pass the bound."""
        if self._count + len(entries) > self.max_records:
            raise SpoolFull(f"the spool holds {self._count} records, its limit is {self.max_records}")
        _write_durably(self.path, "ab", b"".join(e.to_json() + b"\n" for e in entries))
        self._count += len(entries)

    def peek(self, n: int) -> list[Entry]:
        return [Entry.from_json(line) for line in self._lines()[:n]] if self._count else []

    def drop(self, n: int) -> None:
        """Forget the first `n` records (they are in the database): rewrite the rest, then swap files."""
        rest = self._lines()[n:]
        scratch = self.path.with_suffix(".tmp")
        _write_durably(scratch, "wb", b"".join(line + b"\n" for line in rest))
        os.replace(scratch, self.path)
        self._count = len(rest)


def _write_durably(path: Path, mode: str, data: bytes) -> None:
    with path.open(mode) as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
