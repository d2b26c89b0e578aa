"""Prometheus metrics of the front, in a registry of its own."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)

REQUESTS = Counter(
    "finfer_requests", "Requests answered by the front", ["route", "protocol", "status"], registry=REGISTRY
)
REQUEST_LATENCY = Histogram(
    "finfer_request_duration_seconds",
    "Time from request received to response ready",
    ["route", "protocol"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
CACHE = Counter(
    "finfer_cache_lookups",
    "Cache lookups of simple requests; result is hit (in process), shared_hit (Redis) or miss",
    ["model", "result"],
    registry=REGISTRY,
)
SHARED_CACHE_ERRORS = Counter(
    "finfer_shared_cache_errors", "Failed Redis calls (each pauses the shared cache)", ["error"], registry=REGISTRY
)
CACHE_ENTRIES = Gauge("finfer_cache_entries", "Entries in the in-process cache", ["model"], registry=REGISTRY)
UPSTREAM_LATENCY = Histogram(
    "finfer_upstream_duration_seconds",
    "Time of one Triton inference call (possibly coalescing several requests)",
    ["model"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
UPSTREAM_ERRORS = Counter(
    "finfer_upstream_errors", "Failed Triton calls by gRPC status", ["model", "code"], registry=REGISTRY
)
UPSTREAM_READY = Gauge(
    "finfer_upstream_ready", "1 when Triton and the pipelines answered ready at the last check", registry=REGISTRY
)
UPSTREAM_RETRIES = Counter(
    "finfer_upstream_retries",
    "Triton calls sent again to another replica after a dead server or a dead stub",
    ["model"],
    registry=REGISTRY,
)
REPLICA_IN_ROTATION = Gauge(
    "finfer_triton_replica_in_rotation",
    "1 while the front sends calls to this Triton replica",
    ["replica"],
    registry=REGISTRY,
)
TRITON_RESTARTS = Counter(
    "finfer_triton_restarts", "Times `finfer serve` restarted a Triton that had exited on its own", registry=REGISTRY
)
STUB_REPAIRS = Counter(
    "finfer_stub_repairs",
    "Dead Python stubs found by the front, by model and result: reloaded, failed, left (a candidate version's)",
    ["model", "result"],
    registry=REGISTRY,
)
PIPELINE_READY = Gauge(
    "finfer_pipeline_ready",
    "1 when the pipeline's Triton model answered ready at the last check",
    ["pipeline"],
    registry=REGISTRY,
)
UPSTREAM_ROWS = Histogram(
    "finfer_upstream_batch_rows",
    "Rows per Triton call after coalescing concurrent cache misses",
    ["model"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
    registry=REGISTRY,
)
RECORDS = Counter(
    "finfer_records",
    "Application decisions recorded: stored (database), spooled (database away) or refused (spool full)",
    ["result"],
    registry=REGISTRY,
)
SPOOL_RECORDS = Gauge("finfer_spool_records", "Records waiting in the local spool for the database", registry=REGISTRY)
DATABASE_ERRORS = Counter("finfer_database_errors", "Failed writes to the decision store", registry=REGISTRY)
KEY_REQUESTS = Counter(
    "finfer_key_requests", "Requests let through, by API key name (never the key)", ["key"], registry=REGISTRY
)
AUTH_REFUSALS = Counter(
    "finfer_auth_refusals",
    "Requests refused by access control: unauthenticated, forbidden or rate_limited; key name when known",
    ["reason", "key"],
    registry=REGISTRY,
)
DRIFT_PSI = Gauge(
    "finfer_drift_psi",
    "Population stability index of a pipeline's input field or output over the front's sliding window, "
    "against the training distribution (0.1: worth a look, 0.25: shifted)",
    ["pipeline", "feature"],
    registry=REGISTRY,
)
VERSION_ANSWERS = Counter(
    "finfer_version_answers",
    "Rows answered live by a pipeline's version, by result (error: the version failed and the baseline answered)",
    ["pipeline", "version", "result"],
    registry=REGISTRY,
)
SPLIT_WEIGHT = Gauge(
    "finfer_split_weight",
    "A version's weight in its pipeline's traffic split",
    ["pipeline", "version"],
    registry=REGISTRY,
)
ROLLBACKS = Counter(
    "finfer_rollbacks",
    "Candidates set to weight 0 for errors or disagreement (the reason is in the log and GET /v1/admin/versions)",
    ["pipeline", "version"],
    registry=REGISTRY,
)
SHADOW_CALLS = Counter(
    "finfer_comparison_calls",
    "Rows sent to another version for comparison (a shadow, or the baseline for a candidate's answer), by result: "
    "compared, failed, timeout, dropped (too many in flight)",
    ["pipeline", "version", "result"],
    registry=REGISTRY,
)
COMPARISONS = Counter(
    "finfer_comparisons",
    "A shadow's or a candidate's answers compared with the served or baseline answer, by decision agreement",
    ["pipeline", "version", "agreement"],
    registry=REGISTRY,
)
COMPARISON_DIFFERENCE = Histogram(
    "finfer_comparison_difference",
    "Absolute difference of the main score (probability of default, confidence) between compared answers",
    ["pipeline", "version"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0),
    registry=REGISTRY,
)
COMPARISON_OVERLAP = Histogram(
    "finfer_comparison_reason_overlap",
    "Jaccard index of the reason codes of compared answers (1: the same reasons)",
    ["pipeline", "version"],
    buckets=(0.0, 0.25, 0.5, 0.75, 1.0),
    registry=REGISTRY,
)
ADMISSION_IN_FLIGHT = Gauge(
    "finfer_admission_in_flight",
    "Heavy requests (pages, photos, applications carrying them) this front has let into Triton, by pipeline",
    ["pipeline"],
    registry=REGISTRY,
)
ADMISSION_QUEUED = Gauge(
    "finfer_admission_queued",
    "Heavy requests waiting for a place under their pipeline's bound",
    ["pipeline"],
    registry=REGISTRY,
)
ADMISSION_LIMIT = Gauge(
    "finfer_admission_limit",
    "A heavy pipeline's bound on requests in flight in this front",
    ["pipeline"],
    registry=REGISTRY,
)
ADMISSION_REFUSED = Counter(
    "finfer_admission_refused",
    "Heavy requests answered 503 by admission control, by reason: queue_full, or wait (no place in time)",
    ["pipeline", "reason"],
    registry=REGISTRY,
)
