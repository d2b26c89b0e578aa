"""A synthetic lending graph for fraud-ring detection: applications linked to devices, phones and IPs.

Deterministic by seed and sized by `applications`. What makes it hard in the ways real data is:
- legitimate sharing: households (IP always, device and phone sometimes), dealer tablets and dealer
  IPs in auto lending (one device behind hundreds of honest applications), office networks and
  public Wi-Fi (skewed, Zipf-like degrees);
- fraud rings of varied size (3 to 60) that reuse a small pool of devices and phones, half of them
  with tabular features drawn from the legitimate distribution (camouflaged);
- lone fraud with no ring, caught by its tabular features only;
- label noise in both directions;
- a few applications with no links at all (no device fingerprint captured).

The split puts whole rings into one of train / validation / test, so the test set holds only rings
never seen in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from finfer.models.fraud.features import FEATURES, KINDS

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class GraphSpec:
    applications: int = 100_000
    seed: int = 11
    ring_share: float = 0.06  # share of applications that belong to a fraud ring
    lone_fraud_share: float = 0.015
    camouflaged_ring_share: float = 0.5
    household_share: float = 0.10
    dealer_share: float = 0.20
    office_share: float = 0.06
    public_wifi_share: float = 0.05
    unlinked_share: float = 0.02
    # label noise: legitimate labelled fraud, and fraud labelled legitimate
    noise_legit_to_fraud: float = 0.004
    noise_fraud_to_legit: float = 0.04
    split_shares: tuple[float, float, float] = (0.7, 0.1, 0.2)


@dataclass
class LendingGraph:
    """Applications with features, labels, ring ids and split, and their links as (application, entity) pairs."""

    application_ids: np.ndarray  # str
    features: np.ndarray  # float32 [N, len(FEATURES)]
    label: np.ndarray  # int64 [N], 1 = fraud (with label noise)
    is_fraud: np.ndarray  # bool [N], the truth before noise
    ring: np.ndarray  # int64 [N], -1 outside rings
    split: np.ndarray  # int64 [N], index into SPLITS
    links: dict[str, tuple[np.ndarray, np.ndarray]]  # kind → (application index, entity index)
    entity_ids: dict[str, np.ndarray]  # kind → str ids, indexed by entity index

    @property
    def size(self) -> int:
        return len(self.application_ids)

    def mask(self, split: str) -> np.ndarray:
        return self.split == SPLITS.index(split)


class _Ids:
    """Hands out entity numbers per kind."""

    def __init__(self) -> None:
        self.count = dict.fromkeys(KINDS, 0)

    def new(self, kind: str, n: int = 1) -> np.ndarray:
        start = self.count[kind]
        self.count[kind] += n
        return np.arange(start, start + n)


def _legit_features(rng: np.random.Generator, n: int) -> np.ndarray:
    age = np.clip(rng.normal(41, 11, n), 18, 85)
    income = rng.lognormal(np.log(9.0), 0.45, n)  # thousand yuan a month
    loan = income * rng.lognormal(np.log(12.0), 0.5, n)
    employment = np.clip(rng.gamma(2.0, 30.0, n), 0, (age - 16) * 12)
    history = np.clip(rng.gamma(3.0, 30.0, n), 0, (age - 18) * 12)
    inquiries = rng.poisson(1.2, n)
    hour = np.clip(rng.normal(14, 3.5, n), 0, 23.9)
    email_age = rng.gamma(2.0, 900.0, n)
    return np.stack([income, loan, age, employment, history, inquiries, hour, email_age], axis=1)


def _fraud_features(rng: np.random.Generator, n: int) -> np.ndarray:
    """Fraud that does not hide: young e-mail accounts, many inquiries, night hours, thin files."""
    features = _legit_features(rng, n)
    features[:, 1] *= rng.lognormal(np.log(1.5), 0.3, n)
    features[:, 4] *= rng.uniform(0.1, 0.7, n)
    features[:, 5] += rng.poisson(3.0, n)
    features[:, 6] = (rng.normal(2, 3, n)) % 24
    features[:, 7] = rng.gamma(1.2, 40.0, n)
    return features


def _ring_sizes(rng: np.random.Generator, members: int) -> list[int]:
    sizes = []
    while sum(sizes) < members:
        sizes.append(int(min(60, 3 + rng.geometric(1 / 7))))
    sizes[-1] -= sum(sizes) - members
    if sizes[-1] < 3:
        sizes.pop()
    return sizes


def _zipf_choice(rng: np.random.Generator, pool: int, n: int, exponent: float = 1.1) -> np.ndarray:
    weights = 1.0 / np.arange(1, pool + 1) ** exponent
    return rng.choice(pool, size=n, p=weights / weights.sum())


def generate(spec: GraphSpec = GraphSpec()) -> LendingGraph:
    rng = np.random.default_rng(spec.seed)
    n = spec.applications
    ids = _Ids()
    edges: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {k: [] for k in KINDS}

    def link(kind: str, apps: np.ndarray, entities: np.ndarray) -> None:
        edges[kind].append((np.asarray(apps, dtype=np.int64), np.asarray(entities, dtype=np.int64)))

    order = rng.permutation(n)  # applications arrive in random order; roles are drawn on it
    n_ring = int(n * spec.ring_share)
    n_lone = int(n * spec.lone_fraud_share)
    ring_apps, lone_apps, legit_apps = order[:n_ring], order[n_ring : n_ring + n_lone], order[n_ring + n_lone :]

    is_fraud = np.zeros(n, dtype=bool)
    is_fraud[ring_apps] = True
    is_fraud[lone_apps] = True
    features = _legit_features(rng, n)
    features[lone_apps] = _fraud_features(rng, n_lone)
    ring = np.full(n, -1, dtype=np.int64)

    # Every legitimate and lone-fraud application starts with its own device, phone and home IP.
    solo = np.concatenate([legit_apps, lone_apps])
    for kind in KINDS:
        link(kind, solo, ids.new(kind, len(solo)))
    # Some have a second device or IP (phone and laptop, home and mobile network).
    for kind, share in (("device", 0.15), ("ip", 0.25)):
        extra = solo[rng.random(len(solo)) < share]
        link(kind, extra, ids.new(kind, len(extra)))

    # Households: 2-4 honest applications share the home IP, often a device, sometimes a phone.
    members = legit_apps[: int(len(legit_apps) * spec.household_share)]
    cursor = 0
    while cursor < len(members) - 1:
        size = int(rng.integers(2, 5))
        house = members[cursor : cursor + size]
        cursor += size
        link("ip", house, np.repeat(ids.new("ip"), len(house)))
        if rng.random() < 0.5:
            link("device", house, np.repeat(ids.new("device"), len(house)))
        if rng.random() < 0.3:
            link("phone", house, np.repeat(ids.new("phone"), len(house)))

    # Dealer tablets and dealer networks: the biggest honest hubs of auto lending.
    dealers = max(1, n // 400)
    dealer_devices, dealer_ips = ids.new("device", dealers), ids.new("ip", dealers)
    via_dealer = legit_apps[rng.random(len(legit_apps)) < spec.dealer_share]
    chosen = _zipf_choice(rng, dealers, len(via_dealer), 0.9)
    link("device", via_dealer, dealer_devices[chosen])
    link("ip", via_dealer, dealer_ips[chosen])

    # Office networks and public Wi-Fi: shared IPs only.
    for share, pool, exponent in ((spec.office_share, max(1, n // 250), 0.8), (spec.public_wifi_share, 40, 1.2)):
        users = solo[rng.random(len(solo)) < share]
        hubs = ids.new("ip", pool)
        link("ip", users, hubs[_zipf_choice(rng, pool, len(users), exponent)])

    # Fraud rings: a small pool of devices, phones and IPs reused by most members.
    start = 0
    for number, size in enumerate(_ring_sizes(rng, n_ring)):
        apps = ring_apps[start : start + size]
        start += size
        ring[apps] = number
        camouflaged = rng.random() < spec.camouflaged_ring_share
        features[apps] = _legit_features(rng, size) if camouflaged else _fraud_features(rng, size)
        for kind, pool_size, reuse in (
            ("device", max(1, size // 5), 0.8),
            ("phone", max(1, size // 4), 0.6),
            ("ip", max(1, size // 8), 0.5),
        ):
            pool = ids.new(kind, pool_size)
            shared = rng.random(size) < reuse
            link(kind, apps[shared], pool[rng.integers(0, pool_size, shared.sum())])
            own = apps[~shared]
            link(kind, own, ids.new(kind, len(own)))
        # Some members use a second network of their own, as honest applicants do.
        mixers = apps[rng.random(size) < 0.2]
        link("ip", mixers, ids.new("ip", len(mixers)))
    ring_apps = ring_apps[:start]

    # Unlinked applications: drop every link of a few.
    unlinked = set(order[rng.random(n) < spec.unlinked_share].tolist())
    links = {}
    for kind in KINDS:
        apps = np.concatenate([a for a, _ in edges[kind]])
        entities = np.concatenate([e for _, e in edges[kind]])
        keep = ~np.isin(apps, list(unlinked)) if unlinked else np.ones(len(apps), dtype=bool)
        pairs = np.unique(np.stack([apps[keep], entities[keep]], axis=1), axis=0)
        links[kind] = (pairs[:, 0], pairs[:, 1])

    label = is_fraud.astype(np.int64)
    noise = rng.random(n)
    label[~is_fraud & (noise < spec.noise_legit_to_fraud)] = 1
    label[is_fraud & (noise < spec.noise_fraud_to_legit)] = 0

    split = _split(rng, n, ring, spec.split_shares)
    width = len(str(n))
    return LendingGraph(
        application_ids=np.array([f"app-{i:0{width}d}" for i in range(n)]),
        features=features.astype(np.float32),
        label=label,
        is_fraud=is_fraud,
        ring=ring,
        split=split,
        links=links,
        entity_ids={kind: np.array([_raw_id(kind, i) for i in range(ids.count[kind])]) for kind in KINDS},
    )


def _raw_id(kind: str, i: int) -> str:
    """Ids shaped as clients send them: device fingerprints, mobile numbers, IPv4 addresses."""
    if kind == "phone":
        return f"+861{3 + i % 6}{i:09d}"
    if kind == "ip":
        return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
    return f"dev-{i:08x}"


def scoring_requests(n: int, seed: int, known_entities: int = 20_000) -> list[dict]:
    """Requests shaped like the front's API for benchmarks: honest-looking applicants, half their links
    pointing at entities a generated graph already holds (hubs included), half at new ones."""
    rng = np.random.default_rng(seed)
    features = _legit_features(rng, n)
    requests = []
    for i in range(n):
        links = {}
        for kind in KINDS:
            known = rng.random() < 0.5
            links[kind] = [_raw_id(kind, int(rng.integers(known_entities)))] if known else [f"new-{kind}-{seed}-{i}"]
        links["phone"] = [p if p.startswith("+") else f"+8619{seed % 100:02d}{i:07d}" for p in links["phone"]]
        requests.append(
            {
                "application_id": f"bench-{seed}-{i}",
                "features": dict(zip(FEATURES, map(float, features[i]), strict=True)),
                "links": links,
                "persist": False,
            }
        )
    return requests


def _split(rng: np.random.Generator, n: int, ring: np.ndarray, shares: tuple[float, float, float]) -> np.ndarray:
    """Rings go whole to one split; everything else is split application by application."""
    bounds = np.cumsum(shares)[:-1]
    split = np.searchsorted(bounds, rng.random(n), side="right").astype(np.int64)
    rings = np.unique(ring[ring >= 0])
    ring_split = np.searchsorted(bounds, rng.random(len(rings)), side="right")
    in_ring = ring >= 0
    split[in_ring] = ring_split[np.searchsorted(rings, ring[in_ring])]
    return split
