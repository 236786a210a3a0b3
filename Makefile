# Quickstart: `make serve` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# CPU PyTorch goes in first, pinned: an unpinned torch pulls gigabytes of CUDA.
TORCH := torch==2.13.0

.PHONY: install clients chromium serve test suite fuzz bench lint typecheck contracts check clean mutation

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[test]'
	$(MAKE) --no-print-directory clients
	touch $(STAMP)

# Other people's Perspective clients that cannot share the venv, for
# tests/system/test_perspective_clients.py: `perspectiveapi` (its module is named like
# `perspective`'s) and npm's `perspective-api-client` (when Node.js is here; else skipped).
CLIENTS := $(VENV)/clients
clients: | $(PY)
	rm -rf $(CLIENTS)/perspectiveapi
	$(PY) -m pip install --quiet --target $(CLIENTS)/perspectiveapi perspectiveapi==1.1.0
	@if command -v npm >/dev/null; then \
		npm install --silent --no-audit --no-fund --prefix $(CLIENTS)/npm perspective-api-client@3.1.0 \
		|| echo "npm could not install perspective-api-client: its test will be skipped"; \
	fi

# Browser tests drive Debian's Chromium (Playwright cannot download its own here).
# Best effort: installed when missing and the machine allows; the tests skip otherwise
# (fail, under MODERATION_TEST_REQUIRE=chromium, which .ci/run sets).
chromium:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
		|| (apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1) \
		|| echo "chromium could not be installed: browser tests will be skipped"; \
	fi

install: $(STAMP)

serve: install
	$(PY) service.py serve

# Everything CI checks, in order: lint and format, types, the rules of the house, the suite.
test: lint typecheck contracts suite

# The whole suite; -rfEs names every failure, error and skip, and why each skipped.
# MODERATION_TEST_REQUIRE=postgres,chromium makes a test fail where it would skip for
# want of PostgreSQL (MODERATION_TEST_POSTGRES, default 127.0.0.1:5432) or Chromium.
suite: install chromium
	$(PY) -m pytest -rfEs

# A long, randomised Schemathesis campaign (the suite runs a short, fixed one).
fuzz: install
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-300} $(PY) -m pytest -q tests/system/test_fuzz.py

# Every benchmark again, each rewriting its file under bench/results/ with the command,
# the commit and the CPU (tests/test_bench_results.py checks each file's command is one
# of these). Not part of `make test`: over an hour on 2 cores, most of it the service
# benchmarks (2-7 minutes each), the two 5-minute soak tests and the inference benchmark
# (about 8 minutes; longer on a busy machine, where it repeats noisy runs). The
# PostgreSQL soak test needs PostgreSQL on 127.0.0.1:5432 (user postgres) and psql.
bench: install
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/backtest_bench.py 100000
	$(PY) bench/backtest_http_bench.py --count 100000 --repeats 5
	$(PY) bench/decision_quality.py
	$(PY) bench/minilm_bench.py --seconds 20 --concurrency 16,32 --examples 1000 --encoder-runtimes onnx,torch-bf16
	$(PY) bench/scorer_waves.py --seconds 10 --rounds 3 --concurrency 32 --settings MODERATION_BATCH_WAIT=always,MODERATION_BATCH_MAX_WAIT_MS=0,MODERATION_BATCH_MAX_SIZE=8
	$(PY) bench/scorer_waves.py --classifier detoxify --runtime onnx-static-int8-nofuse --seconds 8 --rounds 8 --concurrency 16 --settings MODERATION_BATCH_WAIT=always --name scorer_waves_detoxify
	$(PY) bench/scorer_waves.py --classifier detoxify --runtime auto --seconds 8 --rounds 8 --concurrency 16 --settings MODERATION_CLASSIFIER_LANES=1 --model --name scorer_waves_lanes
	$(PY) bench/scorer_waves.py --classifier detoxify --runtime auto --seconds 8 --rounds 8 --concurrency 16 --settings MODERATION_CLASSIFIER_LANES=1 --model --model-lanes --name scorer_waves_model_lanes
	$(PY) bench/perspective_deadline.py --seconds 20 --rate 4
	$(PY) bench/inference_bench.py
	$(PY) bench/balance_bench.py --calls 60
	$(PY) bench/service_bench.py --duration 20 --runtime onnx-static-int8-nofuse
	$(PY) bench/service_bench.py --duration 20 --runtime onnx-static-int8-nofuse --words 56-64 --name service_long --only naive,service,model
	$(PY) bench/service_bench.py --duration 20 --runtime auto --name service_short_auto
	$(PY) bench/service_bench.py --duration 20 --runtime auto --words 56-64 --name service_long_auto --only naive,service,one-lane,model
	$(PY) bench/service_bench.py --duration 20 --runtime auto --only service,one-lane,model --name service_gap
	$(PY) bench/load_test.py --backend sqlite --processes 1 --rate 250.0 --seconds 300.0
	$(PY) bench/load_test.py --backend postgresql --processes 3 --rate 150.0 --seconds 300.0

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

# The layer rules in pyproject.toml ([tool.importlinter]); docs/architecture.md explains them.
contracts: install
	$(VENV)/bin/lint-imports

check: test

# Mutation testing of the pure core (docs/mutation.md, written by bench/mutation_report.py):
# mutmut mutates the functions matched below, runs each mutant against the fast tests that
# reach it ([tool.mutmut] in pyproject.toml) and counts it killed when one fails. Only
# priority() of decisions.py, sign() and backoff() of webhook_sender.py and the scorer's
# _take() and _pop() count: the rest of those files does I/O or is slow to test (the
# report says what is left out). A clean run each time (mutants/ is a scratch copy,
# ignored by git). Not part of `make test`: about 6 minutes on 2 cores.
MUTANTS := 'moderation.domain.ratelimit.*' 'moderation.services.decisions.x_priority__*' \
	'moderation.workers.webhook_sender.x_sign__*' 'moderation.workers.webhook_sender.x_backoff__*' \
	'moderation.domain.engine.*' 'moderation.textmatch.terms.*' \
	'moderation.workers.scorer.xǁScorerǁ_take__*' 'moderation.workers.scorer.xǁScorerǁ_pop__*'
mutation: install
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2 $(MUTANTS)
	$(PY) bench/mutation_report.py $(MUTANTS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
