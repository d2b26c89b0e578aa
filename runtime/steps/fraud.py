"""The fraud pipeline's Python steps, as Triton runs them (the build points each model folder here)."""

import os
from pathlib import Path

from finfer.models.fraud import scoring as fraud_scoring
from finfer.models.fraud.graph import InMemoryGraph, Journal
from finfer.models.fraud.graph_redis import COMPACT_EVERY_S, COMPACT_EVERY_VARIABLE, RedisLog, compact_on_schedule
from finfer.runtime import in_process
from finfer.runtime.fused import load_steps
from finfer.runtime.python_model import BatchedPythonModel

GNN_MODEL = "fraud_gnn"


class GnnUnavailable(ConnectionError):
    """The BLS call to the GNN failed (a server problem, as while this server stops): UNAVAILABLE, which the
    front retries on another replica, not a bad request."""


class FraudScore(BatchedPythonModel):
    """fraud_score: the graph store in memory; insert, sample and gather evidence, then the GNN over BLS.

    One instance only (config.pbtxt): the graph lives in this process, and a second instance would
    hold a second, diverging copy. Persisted applications are logged per model version and replayed at
    start: in a Redis stream shared by every replica when FINFER_FRAUD_GRAPH_URL is set (compacted on a
    schedule, FINFER_FRAUD_GRAPH_COMPACT_S), else in a
    journal file under FINFER_STATE_DIR (finfer's Triton sets it).
    """

    def setup(self, version_dir, parameters, args):
        # Embedded flavour: the GNN runs here (the build's pipeline.json names it), one process hop fewer;
        # natively it is an ONNX Runtime model of its own, called over BLS.
        in_here = (version_dir / in_process.PIPELINE_FILE).exists()
        self.gnn = load_steps(version_dir, args.get("model_instance_kind", "CPU"))[0].model if in_here else None
        self.config = fraud_scoring.FraudConfig.load(version_dir / "meta.json")
        self.secret = (version_dir / "link_key.bin").read_bytes()
        self.store = InMemoryGraph.load(version_dir / "graph.npz")
        shared = os.environ.get("FINFER_FRAUD_GRAPH_URL")
        state_dir = os.environ.get("FINFER_STATE_DIR")
        if shared:
            log = RedisLog.connect(shared, self.config.model_version)
            self.store.attach_log(log)
            every_s = float(os.environ.get(COMPACT_EVERY_VARIABLE) or COMPACT_EVERY_S)
            if every_s > 0:
                compact_on_schedule(self.store, log, every_s)
        elif state_dir:
            self.store.attach_log(Journal(Path(state_dir) / "fraud_graph" / f"{self.config.model_version}.jsonl"))

    def run_gnn(self, subgraph):
        if self.gnn is not None:
            inputs = {"node_features": subgraph.features, "edge_index": subgraph.edge_index}
            return self.gnn.compute(inputs)["fraud_probability"]
        import triton_python_backend_utils as pb_utils  # natively only: the embedded flavour runs the GNN here

        request = pb_utils.InferenceRequest(
            model_name=GNN_MODEL,
            requested_output_names=["fraud_probability"],
            inputs=[
                pb_utils.Tensor("node_features", subgraph.features),
                pb_utils.Tensor("edge_index", subgraph.edge_index),
            ],
        )
        response = request.exec()
        if response.has_error():
            raise GnnUnavailable(f"{GNN_MODEL}: {response.error().message()}")
        return pb_utils.get_output_tensor_by_name(response, "fraud_probability").as_numpy()

    def compute(self, inputs):
        return fraud_scoring.score(
            self.store,
            self.config,
            self.secret,
            inputs["application_id"],
            inputs["features"],
            inputs["link_ids"],
            inputs["persist"],
            self.run_gnn,
        )
