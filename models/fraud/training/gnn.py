"""GraphSAGE (PyTorch Geometric) over sampled application/device/phone/IP neighbourhoods, and its training.

Imported at build time only: the served model is the ONNX export, fed by the numpy sampler.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch_geometric.nn import SAGEConv

from finfer.models.fraud.graph import NODE_FEATURES, Fanout, GraphStore, Scaler
from finfer.models.fraud.sampling import Subgraph, sample, stored_target


class FraudSage(torch.nn.Module):
    """Two SAGE layers: entities summarise their applications, then each target summarises its entities.

    The node kind is part of the features, so one set of weights serves all four node types.
    """

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.conv1 = SAGEConv(NODE_FEATURES, hidden)
        self.conv2 = SAGEConv(hidden, hidden)
        self.head = torch.nn.Sequential(torch.nn.Linear(hidden + NODE_FEATURES, hidden), torch.nn.ReLU())
        self.out = torch.nn.Linear(hidden, 1)

    def logits(self, node_features: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv1(node_features, edge_index))
        h = torch.relu(self.conv2(h, edge_index))
        # The node's own features skip the convolutions, so an application with no links is still
        # scored on its tabular features.
        return self.out(self.head(torch.cat([h, node_features], dim=-1))).squeeze(-1)

    def forward(self, node_features: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(node_features, edge_index))


@dataclass(frozen=True)
class TrainParams:
    epochs: int
    batch: int = 512
    hidden: int = 64
    learning_rate: float = 3e-3
    fanout: Fanout = Fanout()


def to_torch(subgraph: Subgraph) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(subgraph.features), torch.from_numpy(subgraph.edge_index)


def node_probabilities(model: FraudSage, subgraph: Subgraph) -> np.ndarray:
    """Every node's probability: what the ONNX export must reproduce."""
    with torch.no_grad():
        return model.eval()(*to_torch(subgraph)).numpy()


def weights_digest(model: FraudSage) -> str:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def predict(
    model: FraudSage, store: GraphStore, applications: np.ndarray, scaler: Scaler, fanout: Fanout, batch: int = 1024
) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(applications), batch):
            chunk = applications[start : start + batch]
            subgraph = sample(store, [stored_target(store, int(a)) for a in chunk], fanout, scaler, seeds=chunk)
            out.append(model(*to_torch(subgraph))[: subgraph.targets].numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def train(
    store: GraphStore,
    train_apps: np.ndarray,
    labels: np.ndarray,
    scaler: Scaler,
    params: TrainParams,
    progress: Callable[[str], None],
    validate: Callable[[FraudSage], float] | None = None,
    seed: int = 0,
) -> FraudSage:
    """Neighbour-sampled mini-batch training on CPU; keeps the epoch with the best validation score."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = FraudSage(params.hidden)
    optimiser = torch.optim.Adam(model.parameters(), lr=params.learning_rate, weight_decay=1e-5)
    best: tuple[float, dict] | None = None
    for epoch in range(1, params.epochs + 1):
        model.train()
        order = rng.permutation(train_apps)
        total = 0.0
        for start in range(0, len(order), params.batch):
            chunk = order[start : start + params.batch]
            targets = [stored_target(store, int(a)) for a in chunk]
            subgraph = sample(store, targets, params.fanout, scaler, seeds=rng.integers(1 << 31, size=len(chunk)))
            logits = model.logits(*to_torch(subgraph))[: subgraph.targets]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, torch.from_numpy(labels[chunk].astype(np.float32))
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(chunk)
        message = f"[fraud] epoch {epoch}/{params.epochs}: loss {total / len(order):.4f}"
        if validate is not None:
            score = validate(model)
            message += f", validation PR AUC {score:.3f}"
            if best is None or score > best[0]:
                best = (score, {k: v.clone() for k, v in model.state_dict().items()})
        progress(message)
    if best is not None:
        model.load_state_dict(best[1])
    return model.eval()
