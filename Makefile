# vidlens: two commands.
#   make demo   set up a fresh clone and run the end-to-end demo (index, search, moments)
#   make test   set up the same way and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch is installed first and pinned in every later install so nothing swaps it
# (open_clip needs torchvision, which fails to import beside the CPU-only torch 2.13.0 file).
ARCH := $(shell uname -m)
ifeq ($(ARCH),aarch64)
TORCH_PINS ?= torch==2.9.1 torchvision==0.24.1
else
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
endif
STAMP := $(VENV)/.vidlens-installed

.PHONY: demo test setup lint typecheck check browser bench tiny-model clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_PINS)
	$(PIP) install -q -e '.[dev,server]' $(TORCH_PINS)
	touch $(STAMP)

# Debian's chromium for the browser tests (Playwright's own browser download cannot work offline).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: browser tests will be skipped (install Debian's chromium as root)"; fi; }

demo: setup
	HF_HUB_OFFLINE=1 $(PY) -m vidlens.demo

test: setup browser
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: setup
	$(VENV)/bin/mypy

check: lint typecheck test

# Reproduce the shipped offline model src/vidlens/models/vidlens-tiny* (seeded; about an hour on 2 CPU cores).
tiny-model: setup
	PY=$(PY) bash scripts/train_tiny.sh cpu

clean:
	rm -rf vidlens-library demo-output demo-media test-artifacts .pytest_cache .mypy_cache .ruff_cache
