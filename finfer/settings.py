"""One settings object for Triton and the front, read from FINFER_* environment variables.

Unknown FINFER_* keys are rejected so that a typo in a deployment fails loudly instead of
silently running with a default.
"""

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, FilePath, StringConstraints, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from finfer import paths
from finfer.pipelines.declaration import AdmissionBound

_ENDPOINT = re.compile(r"^(dns:///)?[\w.\-]+:\d{1,5}$")


class Split(BaseModel):
    """One pipeline's traffic between its built versions (`finfer build --version N`): relative weights by
    version number, and the version that gets a copy of every request without answering it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weights: dict[
        Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,5}$")], Annotated[int, Field(ge=0, le=1_000_000)]
    ] = Field(min_length=1, json_schema_extra={"additionalProperties": False})
    shadow: Annotated[int, Field(ge=1, le=999_999)] | None = None

    @field_validator("weights")
    @classmethod
    def _some_weight(cls, value: dict[str, int]) -> dict[str, int]:
        if not any(value.values()):
            raise ValueError("at least one version needs a weight above 0")
        return value

    @property
    def by_version(self) -> dict[int, int]:
        return {int(version): weight for version, weight in self.weights.items()}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FINFER_", extra="forbid", frozen=True)

    # Model repository and embedded Triton
    model_repository: Path = paths.MODEL_REPOSITORY
    state_dir: Path = paths.STATE_DIR
    triton_host: str = "127.0.0.1"
    triton_http_port: int = Field(8000, ge=1, le=65535)
    triton_grpc_port: int = Field(8001, ge=1, le=65535)
    triton_metrics_port: int = Field(8002, ge=1, le=65535)
    triton_startup_timeout_s: float = Field(180.0, gt=0)
    triton_exit_timeout_s: int = Field(30, ge=0)
    triton_cache_bytes: int = Field(64 * 1024 * 1024, ge=0)
    triton_log_verbose: int = Field(0, ge=0)
    # `finfer serve` restarts a Triton that exits on its own: after 1, 2, 4 ... s, at most this often.
    triton_max_restarts: int = Field(5, ge=0)
    triton_restart_window_s: float = Field(600.0, gt=0)
    triton_restart_backoff_s: float = Field(1.0, ge=0)
    # The fraud graph shared by Triton replicas: a Redis stream of persisted applications (redis://host/1).
    # Unset: each Triton keeps its own graph, journaled under state_dir (one replica only).
    fraud_graph_url: str | None = Field(None, pattern=r"^rediss?://")
    # How often each Triton folds the shared graph's stream into a snapshot and trims it (0: never; by hand:
    # `finfer graph compact`), once the stream holds 1,000 entries.
    fraud_graph_compact_s: float = Field(3600.0, ge=0)

    # A decision policy (TOML) that replaces the one built into the repository, for the front and Triton's
    # application step alike (`finfer serve --policy` installs one into the repository instead). On Kubernetes
    # the ConfigMap both pods mount (deploy/k8s/base/decision-policy.toml).
    policy_file: FilePath | None = None
    # The collections policy (TOML: bands, the warning bands, treatment rules) the loans service serves; unset:
    # loans/default_treatments.toml.
    treatments_file: FilePath | None = None

    # Cores the heavy stubs (pages, photos) may run on, as Linux writes CPU lists ("1", "2-3"); unset: every core.
    # They already run only when no light work wants a core (docs/isolation.md); pinning them also keeps one
    # core's caches to the light pipelines, and halves what a page may use on two cores.
    heavy_cpus: str | None = Field(None, pattern=r"^\d+(-\d+)?(,\d+(-\d+)?)*$")

    # Front
    # Triton replicas the front spreads requests over: comma-separated gRPC host:port, or dns:///name:port for
    # every address of a name (a Kubernetes headless Service), resolved again every replica_check_s.
    # Unset: the one embedded Triton at triton_host:triton_grpc_port.
    triton_urls: str | None = None
    # How often a replica taken out of rotation is checked (and names re-resolved).
    replica_check_s: float = Field(0.5, gt=0)
    front_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=1, le=65535)
    grpc_port: int = Field(8081, ge=1, le=65535)
    max_batch_rows: int = Field(256, ge=1, le=4096)
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    # Document and vehicle photos: the upload (multipart file or base64 JSON body) may be this large.
    max_image_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    # A loan application with its documents and photos (base64 over HTTP, bytes over gRPC).
    max_application_bytes: int = Field(48 * 1024 * 1024, ge=1024)
    upstream_timeout_s: float = Field(10.0, gt=0)
    # One coalesced call in flight at a time: on few cores, bigger batches beat more parallel calls.
    upstream_max_inflight: int = Field(1, ge=1)
    readiness_cache_s: float = Field(1.0, ge=0)
    # A small known request through each pipeline this often (0: only real traffic finds a dead stub).
    probe_interval_s: float = Field(3.0, ge=0)
    # How long the front keeps reloading a dead stub's model before leaving its pipeline not ready.
    repair_timeout_s: float = Field(60.0, gt=0)
    retry_after_s: int = Field(1, ge=1)
    # On SIGTERM the front reports not ready and keeps answering this long before it stops accepting.
    drain_s: float = Field(0.0, ge=0, le=300)

    # Heavy pipelines (pages, photos, applications carrying them): each declares its bound on requests in flight
    # per front (finfer.pipelines); these replace it by pipeline, as JSON such as
    # {"documents": {"in_flight": 2, "queue": 4, "wait_s": 1}}.
    admission: dict[str, AdmissionBound] = Field(default_factory=dict)

    # Cache of simple requests
    cache_entries: int = Field(100_000, ge=0)
    cache_ttl_s: float = Field(300.0, gt=0)
    # Keys are salted hashes so that no applicant data sits in clear in the cache; replicas that
    # share a cache must share the salt.
    cache_salt: str = Field(default_factory=lambda: os.urandom(16).hex(), min_length=8, max_length=64)
    # Second level shared by replicas (redis://host:6379/0); unset means in-process only.
    redis_url: str | None = Field(None, pattern=r"^rediss?://")
    redis_timeout_s: float = Field(0.05, gt=0)
    # After a Redis failure, how long the front answers without it before trying again.
    redis_pause_s: float = Field(5.0, ge=0)

    # Online drift: each pipeline's inputs and outputs over the last drift_window requests against the
    # training distribution, published every drift_step requests (finfer_drift_psi). 0: off.
    drift_window: int = Field(2000, ge=0, le=1_000_000)
    drift_step: int = Field(100, ge=1)

    # Model operations on versions built side by side. Splits: per pipeline, JSON such as
    # {"risk": {"weights": {"1": 90, "2": 10}, "shadow": 3}} (unset: version 1 takes every request); changed
    # at run time by PUT /v1/admin/splits/{pipeline}.
    splits: dict[str, Split] = Field(default_factory=dict)
    # Fronts sharing a database serve one split: a PUT or a rollback through one reaches the others within this
    # (front/split_sync.py). A split in the store, once one is written, wins over FINFER_SPLITS.
    splits_refresh_s: float = Field(1.0, gt=0, le=60)
    # Copies for comparison (a shadow's, the baseline's for a candidate) go out in batches, each given up after
    # shadow_timeout_s; at most shadow_max_queued rows wait or are in flight (more are dropped, counted).
    shadow_timeout_s: float = Field(2.0, gt=0)
    shadow_max_queued: int = Field(1024, ge=1)
    # Disagreements kept for GET /v1/admin/versions (the oldest go first).
    disagreements_kept: int = Field(100, ge=0)
    # A candidate taking live traffic goes to weight 0 when, over its last rollback_window answers (once it has
    # rollback_min_answers), its error rate or its disagreement with the baseline version exceeds the bound.
    rollback_window: int = Field(200, ge=1)
    rollback_min_answers: int = Field(50, ge=1)
    rollback_error_rate: float = Field(0.05, ge=0, le=1)
    rollback_disagreement_rate: float = Field(0.3, ge=0, le=1)
    # ... or its p95 latency over those answers exceeds both this many times the baseline's and the baseline's
    # plus the margin (so that a fraction of a millisecond is never a reason): a hung candidate made every one
    # of its rows wait the full upstream deadline, and counted as an outage, never rolled back.
    rollback_latency_ratio: float = Field(3.0, gt=1)
    rollback_latency_margin_ms: float = Field(250.0, ge=0)

    # Decision store and access control
    # PostgreSQL shared by front replicas (postgresql://user:password@host:5432/finfer); unset: SQLite in
    # state_dir/finfer.db. Migrations run at start.
    database_url: str | None = Field(None, pattern=r"^(postgres(ql)?(\+psycopg)?|sqlite)://")
    # A database call that takes longer fails (the record goes to the spool; a review answers 503).
    database_timeout_s: float = Field(2.0, gt=0)
    record_decisions: bool = True
    # Personal identifiers are stored as HMAC-SHA256 digests under this key; replicas sharing a database must
    # share it. Unset: a key generated once and kept in state_dir/record.key.
    record_key: str | None = Field(None, min_length=16, max_length=128)
    # Records kept on local disk while the database is unreachable; a full spool refuses applications (503).
    spool_max_records: int = Field(10_000, ge=1)
    spool_retry_s: float = Field(1.0, gt=0)
    # API keys: `on` requires one on every route but health and metrics; `auto` is on unless the front listens
    # on a loopback address; `off` is refused on any other address.
    auth: Literal["auto", "on", "off"] = "auto"
    # How often the front reads the keys again (creations and revocations take effect within it).
    keys_refresh_s: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _no_unknown_environment(self) -> "Settings":
        # pydantic-settings ignores unknown prefixed variables; a misspelt FINFER_HTTP_PROT must not.
        known = {f"FINFER_{name.upper()}" for name in type(self).model_fields}
        unknown = sorted(k for k in os.environ if k.startswith("FINFER_") and k not in known)
        if unknown:
            raise ValueError(f"unknown settings in the environment: {', '.join(unknown)}")
        return self

    @field_validator("triton_urls")
    @classmethod
    def _endpoints(cls, value: str | None) -> str | None:
        for entry in (value or "").split(","):
            if value is not None and not _ENDPOINT.match(entry.strip()):
                raise ValueError(f"{entry.strip()!r} is not host:port or dns:///name:port (a gRPC endpoint, no scheme)")
        return value

    @model_validator(mode="after")
    def _distinct_ports(self) -> "Settings":
        ports = [
            self.triton_http_port,
            self.triton_grpc_port,
            self.triton_metrics_port,
            self.http_port,
            self.grpc_port,
        ]
        if len(set(ports)) != len(ports):
            raise ValueError(f"ports must be distinct, got {ports}")
        return self

    @property
    def loopback(self) -> bool:
        return self.front_host in ("127.0.0.1", "::1", "localhost") or self.front_host.startswith("127.")

    @property
    def auth_required(self) -> bool:
        return self.auth == "on" or (self.auth == "auto" and not self.loopback)

    @model_validator(mode="after")
    def _auth_off_only_on_loopback(self) -> "Settings":
        if self.auth == "off" and not self.loopback:
            raise ValueError(f"auth=off is refused on {self.front_host}: API keys are required off loopback")
        return self

    @property
    def triton_grpc_url(self) -> str:
        return f"{self.triton_host}:{self.triton_grpc_port}"

    @property
    def triton_targets(self) -> list[str]:
        """The Triton gRPC endpoints the front uses, as listed (dns:/// entries not yet resolved)."""
        if not self.triton_urls:
            return [self.triton_grpc_url]
        return [entry.strip() for entry in self.triton_urls.split(",")]

    @property
    def triton_http_url(self) -> str:
        return f"http://{self.triton_host}:{self.triton_http_port}"

    @property
    def triton_metrics_url(self) -> str:
        return f"http://{self.triton_host}:{self.triton_metrics_port}/metrics"
