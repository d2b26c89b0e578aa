"""deploy/docker and deploy/compose, offline: no container engine runs here, so check what can be checked.

Lint the Dockerfiles, keep the images' pins equal to pyproject's, prove the front's image holds every
package the front imports, compile the Triton image's Python models under its Python (3.10), and
check that the compose file references only files that exist.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from finfer import paths
from tests.test_imports import imported, modules

ROOT = paths.PROJECT_ROOT
DOCKER = ROOT / "deploy" / "docker"
COMPOSE = ROOT / "deploy" / "compose" / "docker-compose.yml"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))


def requirements(path: Path) -> list[Requirement]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return [Requirement(line) for line in lines if line]


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + [d for group in project["optional-dependencies"].values() for d in group]
    return {canonicalize_name(r.name): str(r.specifier) for r in map(Requirement, declared)}


def test_dockerfiles_pass_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    assert DOCKERFILES, "no Dockerfile found"
    result = subprocess.run([str(hadolint), *map(str, DOCKERFILES)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_images_are_pinned():
    for dockerfile in DOCKERFILES:
        for image in re.findall(r"^FROM\s+(\S+)", dockerfile.read_text(), flags=re.MULTILINE):
            assert ":" in image and not image.endswith(":latest"), f"{dockerfile.name}: {image} is not pinned"
    for service in yaml.safe_load(COMPOSE.read_text())["services"].values():
        assert re.search(r":v?[0-9][\w.-]*$", service["image"]), f"{service['image']} is not pinned"


@pytest.mark.parametrize("name", ["requirements-front.txt", "requirements-triton.txt"])
def test_image_requirements_are_pinned_as_in_pyproject(name):
    pins = pyproject_pins()
    for requirement in requirements(DOCKER / name):
        assert str(requirement.specifier).startswith("=="), f"{requirement} is not pinned"
        assert pins.get(canonicalize_name(requirement.name)) == str(requirement.specifier), (
            f"{name}: {requirement} differs from pyproject.toml"
        )


def distribution_closure(roots: list[Requirement]) -> set[str]:
    """The distributions a pip install of `roots` brings, read from this environment's metadata."""
    seen: set[str] = set()
    queue = [(r, frozenset(r.extras)) for r in roots]
    while queue:
        requirement, extras = queue.pop()
        name = canonicalize_name(requirement.name)
        if name in seen and not extras:
            continue
        seen.add(name)
        for dependency in map(Requirement, metadata.requires(name) or []):
            environment = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            if dependency.marker is None or any(dependency.marker.evaluate(e) for e in environment):
                queue.append((dependency, frozenset(dependency.extras)))
    return seen


def test_the_front_image_has_everything_the_front_imports():
    # A fresh interpreter imports the front as the image runs it and reports what it loaded.
    probe = (
        "import sys, json; before = set(sys.modules); import finfer.server; "
        "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    top_level = set(yaml.safe_load(result.stdout))
    owners = metadata.packages_distributions()
    stdlib = set(sys.stdlib_module_names)
    needed = {canonicalize_name(d) for m in top_level - stdlib for d in owners.get(m, [])}
    needed -= {"finfer"}
    shipped = distribution_closure(requirements(DOCKER / "requirements-front.txt"))
    # Several distributions install into the `google` namespace; the front needs protobuf's part only.
    # grpcio imports grpc_tools, and redis imports xxhash, if they happen to be installed, and go on without.
    optional = {canonicalize_name(d) for d in owners.get("google", [])} - {"protobuf"} | {"grpcio-tools", "xxhash"}
    missing = needed - shipped - optional
    assert not missing, f"the front imports packages its image does not install: {sorted(missing)}"
    heavy = {"xgboost-cpu", "onnx", "onnxruntime", "nvidia-pytriton", "locust", "scikit-learn", "pandas"}
    assert not heavy & shipped, f"build-time packages in the front image: {heavy & shipped}"


def triton_image_sources() -> set[Path]:
    """The project's Python files the Triton image copies (its COPY lines, globs expanded, folders walked)."""
    copied: set[Path] = set()
    for line in re.findall(r"^COPY\s+(?!--from)(.+)$", (DOCKER / "triton.Dockerfile").read_text(), flags=re.MULTILINE):
        *sources, _ = line.split()
        for source in sources:
            for path in ROOT.glob(source):
                copied |= set(path.rglob("*.py")) if path.is_dir() else {path}
    return {p for p in copied if p.suffix == ".py"}


def test_the_triton_image_holds_every_module_its_python_models_import():
    # What runs when Triton loads the steps: imports inside functions (the declarations' example generators,
    # used by the front's probes and the bench) never run there.
    found = modules(ROOT)
    steps = [name for name, path in found.items() if path.is_relative_to(ROOT / "runtime")]
    needed, queue = set(steps), list(steps)
    while queue:
        name = queue.pop()
        for other in imported(name, found[name], set(found), lazy=False) - needed:
            needed.add(other)
            queue.append(other)
    missing = sorted(name for name in needed if found[name] not in triton_image_sources())
    assert not missing, f"the Triton image does not copy what its Python models import: {missing}"
    assert not any("training" in p.parts for p in triton_image_sources()), "the Triton image copies training code"


def test_triton_image_python_models_compile_under_python_3_10():
    # pyenv's shim answers `which` even when 3.10 is not selected: ask for a real interpreter.
    candidates = [*Path("/root/.pyenv/versions").glob("3.10*/bin/python3.10"), Path("/usr/bin/python3.10")]
    python310 = next((c for c in candidates if c.exists()), None)
    if python310 is None:
        pytest.skip("no Python 3.10 here (the NGC 24.10 image's Python)")
    sources = sorted(triton_image_sources())
    sources.append(ROOT / "deploy" / "tensorrt" / "build_engines.py")
    result = subprocess.run(
        [str(python310), "-c", "import sys, py_compile; [py_compile.compile(f, doraise=True) for f in sys.argv[1:]]"]
        + [str(s) for s in sources],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_dockerfiles_copy_only_what_the_context_sends():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for dockerfile in DOCKERFILES:
        for line in re.findall(r"^COPY\s+(?!--from)(.+)$", dockerfile.read_text(), flags=re.MULTILINE):
            *sources, _ = line.split()
            for source in sources:
                assert any(source == a or source.startswith(a + "/") for a in allowed), (
                    f"{dockerfile.name}: COPY {source} is excluded by .dockerignore"
                )
                if not source.startswith("build/"):  # built by `make deploy-repository`
                    assert list(ROOT.glob(source)), f"{dockerfile.name}: COPY {source} does not exist"


def test_compose_references_only_files_that_exist():
    compose = yaml.safe_load(COMPOSE.read_text())
    base = COMPOSE.parent
    services = compose["services"]
    assert {"triton", "front", "redis", "prometheus", "grafana"} <= set(services)
    for name, service in services.items():
        if "build" in service:
            context = (base / service["build"]["context"]).resolve()
            assert (context / service["build"]["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source in (compose.get("volumes") or {}):
                continue  # a named volume the file declares, not a path
            assert (base / source).exists(), f"{name}: volume source {source} does not exist"
    triton = services["triton"]
    assert triton["shm_size"]
    (device,) = triton["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"]
    assert services["front"]["environment"]["FINFER_TRITON_HOST"] == "triton"
    scrape = yaml.safe_load((base / "prometheus.yml").read_text())["scrape_configs"]
    targets = {t.split(":")[0] for job in scrape for c in job["static_configs"] for t in c["targets"]}
    assert targets == {"triton", "front"}
