# finfer: `make serve` sets up and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup tools perf-analyzer build serve test lint proto bench loadtest deploy-repository images compose-up clean

setup: $(STAMP)

# System tools the tests run for real: promtool (Prometheus rules), redis-server (the shared cache),
# PostgreSQL (the shared decision store; its programs live in /usr/lib/postgresql/*/bin) and chromium
# (the review page, driven by Playwright). kubectl (with kustomize) comes with the machine image.
TOOLS := promtool:prometheus redis-server:redis-server initdb:postgresql chromium:chromium curl:curl
tools:
	@missing=""; for t in $(TOOLS); do \
		tool=$${t%%:*}; package=$${t##*:}; \
		command -v $$tool >/dev/null || ls /usr/lib/postgresql/*/bin/$$tool >/dev/null 2>&1 || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# NVIDIA's perf_analyzer for `finfer bench` (optional): the binary the tritonclient 2.34.0 wheel carries, in a
# virtual environment of its own (its tritonclient is not the project's), with the CUDA runtime library it
# links (no GPU needed) and Debian's libb64.
perf-analyzer:
	@dpkg -s libb64-0d >/dev/null 2>&1 || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends libb64-0d >/dev/null; }
	test -x .perf-analyzer/bin/perf_analyzer || { $(PYTHON) -m venv .perf-analyzer && \
		.perf-analyzer/bin/python -m pip install --quiet tritonclient==2.34.0 nvidia-cuda-runtime-cu12; }

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "finfer needs Python 3.11, found " + sys.version' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: that spec resolves to a CPU wheel; any other (or a package whose torch
	# range admits a newer release, installed first) pulls gigabytes of CUDA.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

build: setup
	$(BIN)/finfer build

serve: setup
	$(BIN)/finfer serve

test: setup tools
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Regenerate the gRPC stubs after editing wire/finfer.proto (they import as finfer.wire).
proto: setup
	PATH=$(abspath $(BIN)):$$PATH bash wire/generate.sh

bench: setup
	$(BIN)/finfer bench

loadtest: setup
	$(BIN)/finfer loadtest

# What the images carry: the repository in its GPU and CPU native flavours.
deploy-repository: setup
	$(BIN)/finfer build --flavour native
	$(BIN)/finfer build --flavour native-cpu

images: deploy-repository
	docker build -f deploy/docker/triton.Dockerfile -t finfer-triton:0.1.0 .
	docker build -f deploy/docker/front.Dockerfile -t finfer-front:0.1.0 .

# One GPU host: Triton, the front, Redis, Prometheus, Grafana (needs Docker with the NVIDIA runtime).
compose-up: deploy-repository
	docker compose -f deploy/compose/docker-compose.yml up --build -d

clean:
	rm -rf $(VENV) .finfer build
