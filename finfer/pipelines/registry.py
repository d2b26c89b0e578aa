"""The registry: every pipeline finfer serves, in the order the API documents them.

This is the only list. The front's routes and servicers, readiness, `finfer build --family`, the
bench, Locust and the test fixtures iterate it; adding a pipeline is one declaration module and one
line here.
"""

from finfer.pipelines import application, behaviour, damage, documents, fraud, intent, risk
from finfer.pipelines.declaration import Pipeline

REGISTRY: tuple[Pipeline, ...] = (
    risk.PIPELINE,
    fraud.PIPELINE,
    intent.PIPELINE,
    documents.PIPELINE,
    damage.PIPELINE,
    behaviour.PIPELINE,
    # Composes the others, so it is built and loaded after them.
    application.PIPELINE,
)

BY_NAME: dict[str, Pipeline] = {p.name: p for p in REGISTRY}
BY_FAMILY: dict[str, Pipeline] = {p.family: p for p in REGISTRY}
