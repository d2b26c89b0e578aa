"""The traffic mix, stated once: which routes a load test sends, and how often each, by registry name.

`finfer loadtest` (Locust) sends every route of it; the drills (`finfer chaos`, `finfer soak`, traffic.py)
send its single routes (the batch routes aside).
"""

from __future__ import annotations

from finfer.pipelines.declaration import Pipeline
from finfer.pipelines.registry import BY_NAME

# Images cost ~100× a tabular request; mix them in with `--mix documents=1,damage=1`. Applications
# come as dealers send them: 70% credit file and links, 20% plus a page, 10% plus pages, a photo and a message.
DEFAULT_MIX = "risk=8,risk:batch=1,fraud=4,intent=6,application=2"


def parse_mix(text: str) -> list[tuple[Pipeline, bool, float]]:
    """(pipeline, batch route?, weight) for each `name[:batch]=weight` of the mix."""
    out = []
    for item in filter(None, text.split(",")):
        key, _, weight = item.partition("=")
        name, _, route = key.strip().partition(":")
        if name not in BY_NAME or route not in ("", "batch") or (route and BY_NAME[name].batch is None):
            raise ValueError(f"--mix: unknown route {key!r}; pipelines: {', '.join(BY_NAME)}")
        out.append((BY_NAME[name], route == "batch", float(weight or 1)))
    return out


def pipeline_weights(text: str = DEFAULT_MIX) -> dict[str, float]:
    """Each pipeline's weight over its single route (batch routes left out)."""
    return {pipeline.name: weight for pipeline, batch, weight in parse_mix(text) if not batch}
