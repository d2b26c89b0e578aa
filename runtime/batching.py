"""Merge the requests of one dynamic batch, run them once, split the answers (no Triton imports)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

Arrays = dict[str, np.ndarray]


class RequestError(ValueError):
    """A request the model cannot answer; reported to that request's caller only."""


def run_batched(
    compute: Callable[[Arrays], Mapping[str, np.ndarray]],
    requests: list[Arrays],
) -> list[Arrays | Exception]:
    """Run `compute` once over all requests; a bad request fails alone, not the whole batch."""
    if not requests:
        return []
    sizes = [_batch_size(r) for r in requests]
    if len(requests) == 1:
        return [_guarded(compute, requests[0])]
    merged = {name: np.concatenate([r[name] for r in requests]) for name in requests[0]}
    try:
        outputs = compute(merged)
    except ValueError:
        # Some request in the batch is bad: run them one by one so the good ones still succeed.
        return [_guarded(compute, r) for r in requests]
    bounds = np.cumsum(sizes)[:-1]
    split = {name: np.split(array, bounds) for name, array in outputs.items()}
    return [{name: parts[i] for name, parts in split.items()} for i in range(len(requests))]


def run_each(compute: Callable[[Arrays], Mapping[str, np.ndarray]], requests: list[Arrays]) -> list[Arrays | Exception]:
    """For models without a batch dimension (max_batch_size 0): one call a request, nothing merged."""
    return [_guarded(compute, r) for r in requests]


def _guarded(compute: Callable[[Arrays], Mapping[str, np.ndarray]], inputs: Arrays) -> Arrays | Exception:
    try:
        return dict(compute(inputs))
    except ValueError as exc:
        return exc


def _batch_size(inputs: Arrays) -> int:
    sizes = {array.shape[0] for array in inputs.values()}
    if len(sizes) != 1:
        raise RequestError(f"inputs disagree on the batch size: {sorted(sizes)}")
    return sizes.pop()
