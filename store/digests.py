"""Personal identifiers (ID numbers, VINs, plates, phones, devices, IPs) and inputs become keyed digests
before anything is stored: the same value gives the same digest (lookups, joins), the value itself is
never kept, and without the key a digest cannot be brute-forced from the small space of ID numbers."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
from pathlib import Path

from finfer.settings import Settings


class Digester:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, value: str | bytes) -> str:
        data = value.encode() if isinstance(value, str) else value
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()


def record_key(settings: Settings) -> bytes:
    """FINFER_RECORD_KEY, or a key generated once into state_dir/record.key (readable by its owner only)."""
    if settings.record_key is not None:
        return settings.record_key.encode()
    path = settings.state_dir / "record.key"
    if not path.exists():
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process made it first
            _write_private(path, os.urandom(32).hex())
    return path.read_text().strip().encode()


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
