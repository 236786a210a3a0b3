# Quickstart: `make serve` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# CPU PyTorch goes in first, pinned: an unpinned torch pulls gigabytes of CUDA.
TORCH := torch==2.13.0

.PHONY: install chromium serve test suite fuzz lint typecheck contracts check clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Browser tests drive Debian's Chromium (Playwright cannot download its own here).
# Best effort: installed when missing and the machine allows; the tests skip otherwise.
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

# The whole suite; -rs prints why each skipped test skipped.
suite: install chromium
	$(PY) -m pytest -rs

# A long, randomised Schemathesis campaign (the suite runs a short, fixed one).
fuzz: install
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-300} $(PY) -m pytest -q tests/system/test_fuzz.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

# The layer rules in pyproject.toml ([tool.importlinter]); docs/architecture.md explains them.
contracts: install
	$(VENV)/bin/lint-imports

check: test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
