"""deploy/k8s, offline: every overlay renders with kustomize and validates against Kubernetes' schemas."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from finfer import paths
from finfer.application.branches import BRANCH_NAMES
from finfer.application.policy import DEFAULT_POLICY, POLICY_FILE_VARIABLE, parse_policy
from finfer.exporters.model_config import HEAVY_RESOURCE
from finfer.front import metrics
from finfer.loans.treatments import DEFAULT_TREATMENTS, parse_treatments

K8S = paths.PROJECT_ROOT / "deploy" / "k8s"
OVERLAYS = ["cpu", "gpu", "gpu-keda"]
KUBERNETES_VERSION = "1.37.0"
# Custom resources kubernetes-validate has no schema for; checked by hand below.
CUSTOM_KINDS = {"ScaledObject"}


def render(overlay: str, k8s: Path = K8S) -> list[dict]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl (with kustomize) is not installed")
    result = subprocess.run(
        ["kubectl", "kustomize", str(k8s / "overlays" / overlay)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request, tmp_path_factory) -> tuple[str, list[dict], Path]:
    objects = render(request.param)
    path = tmp_path_factory.mktemp("k8s") / f"{request.param}.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    return request.param, objects, path


def find(objects: list[dict], kind: str, name: str) -> dict:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} objects"
    return matches[0]


def container(deployment: dict, name: str) -> dict:
    (found,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return found


def test_every_object_validates_strictly(rendered):
    _, objects, path = rendered
    validator = Path(sys.executable).parent / "kubernetes-validate"
    result = subprocess.run(
        [str(validator), "--strict", "--quiet", "-k", KUBERNETES_VERSION, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Warnings are only for the custom resources we expect; anything else unvalidated is a mistake.
    skipped = {
        line.split("kind ")[1].split()[0] for line in result.stdout.splitlines() if "Couldn't find schema" in line
    }
    assert skipped <= CUSTOM_KINDS
    assert all(o["metadata"].get("namespace") == "finfer" for o in objects if o["kind"] != "Namespace")


def test_triton_has_probes_shm_ports_and_a_disruption_budget(rendered):
    _, objects, _ = rendered
    triton = find(objects, "Deployment", "triton")
    spec = triton["spec"]["template"]["spec"]
    server = container(triton, "triton")
    assert server["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert server["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    startup = server["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300, "model loading needs minutes"
    assert {p["containerPort"] for p in server["ports"]} == {8000, 8001, 8002}
    (shm,) = [v for v in spec["volumes"] if v["name"] == "dshm"]
    assert shm["emptyDir"]["medium"] == "Memory"
    assert {"name": "dshm", "mountPath": "/dev/shm"} in server["volumeMounts"]
    assert "--metrics-config=summary_latencies=true" in server["args"]
    # The heavy steps' instance groups ask for the `heavy` resource (ModelSpec.as_heavy): only a rate-limited
    # server counts it.
    assert {"--rate-limit=execution_count", f"--rate-limit-resource={HEAVY_RESOURCE}:2"} <= set(server["args"])
    # The front reloads a model whose stub died: refused unless Triton runs in explicit model control.
    assert {"--model-control-mode=explicit", "--load-model=*"} <= set(server["args"])
    assert "podAntiAffinity" in spec["affinity"]
    budget = find(objects, "PodDisruptionBudget", "triton")
    assert budget["spec"]["selector"]["matchLabels"] == triton["spec"]["selector"]["matchLabels"]


def test_gpu_overlays_ask_for_gpus_and_build_engines_on_the_node(rendered):
    overlay, objects, _ = rendered
    triton = find(objects, "Deployment", "triton")
    spec = triton["spec"]["template"]["spec"]
    server = container(triton, "triton")
    repository = next(a for a in server["args"] if a.startswith("--model-repository="))
    if overlay == "cpu":
        assert "nvidia.com/gpu" not in server["resources"].get("limits", {})
        assert repository.endswith("/native-cpu")
        assert "initContainers" not in spec
        return
    assert server["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])
    assert "requiredDuringSchedulingIgnoredDuringExecution" in spec["affinity"]["podAntiAffinity"]
    copy, engines = spec["initContainers"]
    assert copy["command"][-2:] == ["/opt/finfer/repository/native/.", "/models/"]
    assert engines["image"].startswith("nvcr.io/nvidia/tensorrt:")
    assert engines["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert repository == "--model-repository=/models"
    # The script the init container runs is the one in deploy/tensorrt, shipped by a ConfigMap.
    (script_volume,) = [v for v in spec["volumes"] if v["name"] == "build-engines"]
    config_map = find(objects, "ConfigMap", script_volume["configMap"]["name"])
    source = (paths.PROJECT_ROOT / "deploy" / "tensorrt" / "build_engines.py").read_text()
    assert config_map["data"]["build_engines.py"] == source
    # Triton's image and the TensorRT image must be the same NGC release, or the plans will not load.
    dockerfile = (paths.PROJECT_ROOT / "deploy" / "docker" / "triton.Dockerfile").read_text()
    release = engines["image"].rsplit(":", 1)[1]
    assert f"nvcr.io/nvidia/tritonserver:{release}" in dockerfile


def test_only_the_front_reaches_triton_and_redis(rendered):
    _, objects, _ = rendered
    for name, target, ports in [
        ("triton-from-front-only", "triton", {8000, 8001}),
        ("redis-from-front-only", "redis", {6379}),
    ]:
        policy = find(objects, "NetworkPolicy", name)["spec"]
        assert policy["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": target}
        from_front = [rule for rule in policy["ingress"] if "podSelector" in rule["from"][0]]
        assert len(from_front) == 1
        assert from_front[0]["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "front"}}}]
        assert {p["port"] for p in from_front[0]["ports"]} == ports
        others = [rule for rule in policy["ingress"] if rule not in from_front]
        assert all({p["port"] for p in rule["ports"]} == {8002} for rule in others), "only metrics to others"


def test_triton_replicas_share_a_graph_store_that_persists(rendered):
    _, objects, _ = rendered
    env = {e["name"]: e["value"] for e in container(find(objects, "Deployment", "triton"), "triton")["env"]}
    name = re.fullmatch(r"redis://([\w-]+):6379/0", env["FINFER_FRAUD_GRAPH_URL"]).group(1)
    store = find(objects, "StatefulSet", name)
    args = container(store, "redis")["args"]
    assert args[args.index("--appendonly") + 1] == "yes" and "noeviction" in args
    assert store["spec"]["volumeClaimTemplates"], "the append-only file on a volume"
    policy = find(objects, "NetworkPolicy", f"{name}-from-triton-only")["spec"]
    assert policy["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "triton"}}}]


def test_the_front_talks_to_the_services_that_exist(rendered):
    _, objects, _ = rendered
    front = find(objects, "Deployment", "front")
    env = {}
    for source in container(front, "front")["envFrom"]:
        kind, ref = (
            ("ConfigMap", source["configMapRef"]) if "configMapRef" in source else ("Secret", source["secretRef"])
        )
        env.update(find(objects, kind, ref["name"]).get("data", {}))
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    name = re.fullmatch(r"dns:///([\w-]+):8001", env["FINFER_TRITON_URLS"]).group(1)
    assert services[name]["spec"]["clusterIP"] == "None", "the front resolves every Triton pod: a headless Service"
    assert services[name]["spec"]["selector"] == {"app.kubernetes.io/name": "triton"}
    assert env["FINFER_REDIS_URL"].startswith("redis://redis:")
    assert "FINFER_CACHE_SALT" in env
    assert find(objects, "HorizontalPodAutoscaler", "front")["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def mounted_policy(objects: list[dict], deployment: str, variable: str = POLICY_FILE_VARIABLE) -> tuple[str, str]:
    """The ConfigMap a Deployment's pods read a policy from (`variable` names the file), and the file's name."""
    spec = find(objects, "Deployment", deployment)["spec"]["template"]["spec"]
    (server,) = spec["containers"]
    env = {e["name"]: e.get("value") for e in server.get("env", [])}
    path = Path(env[variable])
    (mount,) = [m for m in server["volumeMounts"] if m["mountPath"] == str(path.parent)]
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    return volume["configMap"]["name"], path.name


def test_both_pods_serve_the_decision_policy_of_one_configmap(rendered):
    _, objects, _ = rendered
    (triton_map, key), front_map = mounted_policy(objects, "triton"), mounted_policy(objects, "front")
    assert front_map == (triton_map, key)
    text = find(objects, "ConfigMap", triton_map)["data"][key]
    assert parse_policy(text, BRANCH_NAMES, "the ConfigMap").version
    # Until an operator replaces it, the cluster decides as the image and `finfer serve` do.
    assert text == DEFAULT_POLICY.read_text(encoding="utf-8")


def test_the_front_serves_the_collections_policy_of_a_configmap(rendered):
    _, objects, _ = rendered
    name, key = mounted_policy(objects, "front", "FINFER_TREATMENTS_FILE")
    text = find(objects, "ConfigMap", name)["data"][key]
    assert parse_treatments(text, "the ConfigMap").warning_bands
    assert text == DEFAULT_TREATMENTS.read_text(encoding="utf-8")


def test_a_changed_policy_rolls_both_deployments_without_a_new_image(tmp_path):
    deploy = tmp_path / "deploy"
    shutil.copytree(K8S.parent, deploy)
    before = render("cpu", deploy / "k8s")
    policy = deploy / "k8s" / "base" / "decision-policy.toml"
    policy.write_text(policy.read_text().replace('version = "2026.11-default"', 'version = "2026.12-tighter"'))
    after = render("cpu", deploy / "k8s")
    for deployment in ("triton", "front"):
        old, new = mounted_policy(before, deployment)[0], mounted_policy(after, deployment)[0]
        assert old != new, "the pod template must change for the Deployment to roll"
        assert "2026.12-tighter" in find(after, "ConfigMap", new)["data"]["policy.toml"]
        images = [c["image"] for c in find(after, "Deployment", deployment)["spec"]["template"]["spec"]["containers"]]
        assert images == [
            c["image"] for c in find(before, "Deployment", deployment)["spec"]["template"]["spec"]["containers"]
        ]


def test_triton_autoscales_on_its_queue(rendered):
    overlay, objects, _ = rendered
    deployments = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
    if overlay == "gpu-keda":
        scaled = find(objects, "ScaledObject", "triton")
        assert scaled["spec"]["scaleTargetRef"]["name"] in deployments
        pending, heavy = scaled["spec"]["triggers"]
        assert pending["type"] == heavy["type"] == "prometheus"
        assert "nv_inference_pending_request_count" in pending["metadata"]["query"]
        assert "finfer_admission_in_flight" in heavy["metadata"]["query"]
        assert not [o for o in objects if o["kind"] == "HorizontalPodAutoscaler" and o["metadata"]["name"] == "triton"]
        return
    hpa = find(objects, "HorizontalPodAutoscaler", "triton")["spec"]
    assert hpa["scaleTargetRef"]["name"] in deployments
    pending, heavy = hpa["metrics"]
    assert pending["type"] == "Pods" and heavy["type"] == "External"
    assert {"scaleUp", "scaleDown"} <= set(hpa["behavior"])
    # The metrics the HPA asks for are ones the prometheus-adapter rules serve, from metrics that exist.
    values = yaml.safe_load((K8S / "components" / "autoscaling-hpa" / "prometheus-adapter-values.yaml").read_text())
    assert pending["pods"]["metric"]["name"] in {rule["name"]["as"] for rule in values["rules"]["custom"]}
    (external,) = [r for r in values["rules"]["external"] if r["name"]["as"] == heavy["external"]["metric"]["name"]]
    exported = {m.name for m in metrics.REGISTRY.collect()}
    assert {"finfer_admission_in_flight", "finfer_admission_queued"} <= exported
    assert "finfer_admission_queued" in external["metricsQuery"]
