"""The audit chain as plain functions: each record's digest covers its place, its predecessor's digest and its
content, so editing, removing or reordering any record breaks the chain at the first record touched."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from finfer.store.schema import GENESIS


def canonical(body: dict[str, Any]) -> str:
    """One text for one body whatever its key order: what the digest is taken over and what is stored."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()


@dataclass(frozen=True)
class Link:
    seq: int
    kind: str
    application_id: str
    at: str
    body: str  # canonical JSON, as stored
    prev: str
    digest: str

    def expected_digest(self) -> str:
        return link_digest(self.seq, self.prev, self.kind, self.application_id, self.at, self.body)


def link_digest(seq: int, prev: str, kind: str, application_id: str, at: str, body: str) -> str:
    text = "\n".join((str(seq), prev, kind, application_id, at, body))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Break:
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"record {self.seq}: {self.problem}"


def first_break(links: Iterable[Link], head: tuple[int, str]) -> tuple[int, Break | None]:
    """Walk `links` in seq order against the chain head (its seq and digest); the records checked and the
    first break, or None when the chain is whole."""
    expected_seq, expected_prev, checked = 1, GENESIS, 0
    for link in links:
        if link.seq != expected_seq:
            return checked, Break(expected_seq, f"is missing (removed); the next record is {link.seq}")
        if link.prev != expected_prev:
            problem = "does not follow the record before it: records were removed, swapped or reordered here"
            return checked, Break(link.seq, problem)
        if link.expected_digest() != link.digest:
            return checked, Break(link.seq, f"was changed: its content no longer matches its digest ({link.kind})")
        expected_seq, expected_prev, checked = expected_seq + 1, link.digest, checked + 1
    head_seq, head_digest = head
    if head_seq != checked:
        return checked, Break(checked + 1, f"is missing (removed): the chain's head says {head_seq} records")
    if head_digest != expected_prev:
        return checked, Break(checked, "was changed or replaced: it is not the record the chain's head names")
    return checked, None
