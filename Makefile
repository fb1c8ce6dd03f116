# One command sets up everything on a fresh machine and runs every test and linter: `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python

# @ibm/telemetry-js (a dependency of form-js's Carbon styles) otherwise reports installs and runs.
export IBM_TELEMETRY_DISABLED := true

.PHONY: test setup lint lint-python lint-bpmn lint-prometheus lint-docker lint-k8s pytest lock bench bench-reader bench-redaction clean llama-server camunda-engine demo eval-local-llm

test: setup lint pytest

setup: $(VENV)/.installed node_modules/.installed .tools-installed

# Every package comes from the lock and must match one of its hashes; the project itself is
# then built with the locked build backend (no build isolation, so nothing unhashed is fetched).
$(VENV)/.installed: requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# promtool and the Prometheus server come from Debian's `prometheus` package; the browser the
# form tests render the forms in is Debian's `chromium` (puppeteer-core downloads none); Java 17
# and Maven build the real Camunda engine the real_engine tests run against.
.tools-installed:
	missing="$$(command -v promtool >/dev/null 2>&1 || echo prometheus) $$(command -v chromium >/dev/null 2>&1 || echo chromium) $$(command -v java >/dev/null 2>&1 || echo openjdk-17-jdk-headless) $$(command -v mvn >/dev/null 2>&1 || echo maven)"; \
	[ -z "$$(echo $$missing)" ] || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null)
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

# The real Camunda 7.24 engine of the real_engine tests (tests/camunda-engine): built once with
# Maven (about 1.5 min the first time on a machine, downloads cached in ~/.m2) into
# ~/.cache/llm-worker, keyed by its sources; the tests start it on a free port per session.
camunda-engine: setup
	$(PY) -m tests.fakes.camunda_engine build

pytest: llama-server camunda-engine
	$(BIN)/pytest -q

# The whole product without Docker: the real engine (port 8080, DEMO_PORT), the deploy with the
# demo users and one worker with the simulated payment gateway; Ctrl-C stops everything.
demo: camunda-engine
	$(PY) scripts/demo.py

# Not in CI (slow: about 15 s an LLM call on 2 cores): `llm-worker eval`, strategies hybrid and
# llm, with Qwen2.5-Coder-1.5B-Instruct behind llama-server.
eval-local-llm: setup llama-server
	$(PY) scripts/eval_local_llm.py

# Not in `make test` (a benchmark prints numbers; a test never asserts speed): llm-worker run
# against the emulator and the real engine, and a lean client's ceiling on each (docs/benchmarks.md).
bench: camunda-engine
	$(PY) benchmarks/throughput.py

# The rules reader on the real fare-rule texts of ../shared/fare-rules/ (skips where absent).
bench-reader:
	$(PY) benchmarks/reader.py

bench-redaction:
	$(PY) benchmarks/redaction.py

# The locks pin every distribution by hash (install with --require-hashes), and also pin the
# build backend of pyproject.toml's [build-system] (the `-` input), so that the project can be
# built from hashed packages too. Versions already locked are kept; `make lock` after changing
# pyproject.toml adds or moves only what the change needs.
BUILD_REQUIRES := $(PY) -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires']))"
COMPILE := $(BIN)/uv pip compile pyproject.toml - --generate-hashes --python-version 3.11 -q

# The runtime lock is constrained by the dev lock: the image runs the versions the tests ran.
lock:
	$(BIN)/pip install --quiet uv
	$(BUILD_REQUIRES) | $(COMPILE) --extra dev -o requirements-dev.lock
	$(BUILD_REQUIRES) | $(COMPILE) --constraint requirements-dev.lock -o requirements.lock

clean:
	rm -rf $(VENV) node_modules .tools-installed .mypy_cache .ruff_cache .pytest_cache
