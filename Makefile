# One command sets up everything on a fresh machine and runs every test and linter: `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python

.PHONY: test setup lint lint-python lint-bpmn lint-prometheus lint-docker lint-k8s pytest lock bench clean llama-server eval-local-llm

test: setup lint pytest

setup: $(VENV)/.installed node_modules/.installed .tools-installed

$(VENV)/.installed: requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# promtool and the Prometheus server come from Debian's `prometheus` package.
.tools-installed:
	command -v promtool >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null)
	@# The package may start its own server on :9090; the tests run theirs on ephemeral ports.
	(systemctl disable --now prometheus || service prometheus stop) >/dev/null 2>&1 || true
	touch $@

lint: lint-python lint-bpmn lint-prometheus lint-docker lint-k8s

lint-python:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

lint-bpmn:
	npx --no-install bpmnlint bpmn/*.bpmn

lint-prometheus:
	promtool check config --syntax-only docker/prometheus/prometheus.yml
	promtool check rules docker/prometheus/alerts.yml
	promtool test rules tests/prometheus/alerts_test.yml
	@# The Grafana dashboard is generated: its generator is typed and its JSON up to date.
	$(BIN)/mypy --strict grafana/generate.py
	$(PY) grafana/generate.py --check

lint-docker:
	$(BIN)/hadolint docker/Dockerfile
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	$(BIN)/docker-compose --file docker-compose.yml config --quiet
	$(BIN)/shellcheck --severity=style scripts/smoke.sh

lint-k8s:
	$(PY) scripts/validate_k8s.py

# llama.cpp's OpenAI-compatible server and SmolLM2-135M for the real-LLM-server tests: built
# once (about 10 min on 2 cores; installs cmake/g++ with apt-get when missing) and cached in
# ~/.cache/llm-worker (LLM_WORKER_CACHE), so later runs start at once.
llama-server: $(VENV)/.installed
	$(PY) -m tests.fakes.llama_server build

pytest: llama-server
	$(BIN)/pytest -q

# Not in CI (slow: about 15 s an LLM call on 2 cores): `llm-worker eval`, strategies hybrid and
# llm, with Qwen2.5-Coder-1.5B-Instruct behind llama-server.
eval-local-llm: setup llama-server
	$(PY) scripts/eval_local_llm.py

bench:
	$(PY) benchmarks/throughput.py

lock:
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml -o requirements.lock --python-version 3.11 -q
	$(BIN)/uv pip compile pyproject.toml --extra dev -o requirements-dev.lock --python-version 3.11 -q

clean:
	rm -rf $(VENV) node_modules .tools-installed .mypy_cache .ruff_cache .pytest_cache
