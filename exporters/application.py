"""The loan-application family: no model of its own, a BLS step that composes the others, and its policy.

Building it validates the policy and writes it beside the step (`loan_application/1/policy.toml`),
so the repository is the whole deployable decision: the native GPU image decides as the embedded
server does. `finfer serve --policy FILE` installs another policy the same way before Triton starts.
"""

from __future__ import annotations

import json
from pathlib import Path

from finfer.application.branches import BRANCH_NAMES
from finfer.application.policy import DEFAULT_POLICY, Policy, load_policy
from finfer.exporters.base import Exporter, Profile, Progress, Trained
from finfer.exporters.model_config import Flavour, InstanceGroup, ModelSpec, Tensor
from finfer.pipelines.application import PIPELINE

STEP = PIPELINE.triton_model


def read_policy(path: Path) -> tuple[Policy, bytes]:
    """The policy at `path`, validated against the application's branches, and its bytes as written."""
    return load_policy(path, BRANCH_NAMES), path.read_bytes()


def install_policy(repository: Path, path: Path) -> Policy:
    """Validate `path` and make it the policy the built repository serves."""
    policy, text = read_policy(path)
    folder = repository / STEP
    if not (folder / "metrics.json").exists():
        raise FileNotFoundError(f"{folder} is missing: run `finfer build --family application` first")
    (folder / "1" / "policy.toml").write_bytes(text)
    card = json.loads((folder / "metrics.json").read_text())
    card |= {"model_version": policy.version, "policy_version": policy.version, "policy_source": str(path)}
    (folder / "metrics.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    return policy


APPLICATIONS_IN_FLIGHT = 4


class ApplicationExporter(Exporter):
    family = "application"
    onnx_model = ""
    card_model = STEP

    def __init__(self, policy: Path = DEFAULT_POLICY) -> None:
        self.policy = policy

    def train(self, profile: Profile, progress: Progress) -> Trained:
        policy, text = read_policy(self.policy)
        progress(f"[{self.family}] policy {policy.version} from {self.policy}")
        deadlines = {name: rules.deadline_ms for name, rules in policy.branches.items()}
        return Trained(
            model=None,
            parity_inputs={},
            parity_expected={},
            metrics={
                "policy_version": policy.version,
                "policy_source": str(self.policy),
                "branches": list(BRANCH_NAMES),
                "deadlines_ms": deadlines,
            },
            files={STEP: {"policy.toml": text}},
            model_version=policy.version,
        )

    def model_specs(self, trained: Trained, flavour: Flavour) -> list[ModelSpec]:
        # One application a request (its images vary in number); only `application` is required.
        inputs = tuple(
            Tensor(t.name, "STRING", (1,) if t.name == "application" else (-1,), optional=t.name != "application")
            for t in PIPELINE.inputs
        )
        outputs = tuple(Tensor(t.name, "STRING", (1,)) for t in PIPELINE.outputs)
        return [
            ModelSpec(
                name=STEP,
                inputs=inputs,
                outputs=outputs,
                max_batch_size=0,
                dynamic_batching=None,
                # Triton runs one execute at a time per instance of a non-decoupled Python model, async or not,
                # and an application spends its time waiting on the branch models: with one instance, mixed
                # traffic queued applications for seconds (loadtest/results/chaos.md). Four keep four in flight.
                instance_group=InstanceGroup(count=APPLICATIONS_IN_FLIGHT, kind="KIND_CPU"),
            )
        ]
