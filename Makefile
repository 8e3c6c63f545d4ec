# Set-up is part of every target: `make demo` and `make test` work on a fresh clone.
# torch is pinned in the same pip command as the rest, so that pip takes the CPU build
# instead of resolving a multi-GB CUDA build of a newer release.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH := torch==2.13.0
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export HF_EVALUATE_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export RAY_AUTH_MODE := disabled
export TOKENIZERS_PARALLELISM := false

.PHONY: install browser demo test test-fast lint bench clean docs

install: $(STAMP)

$(STAMP): pyproject.toml requirements-embedded.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH)" -e ".[ml,ray,server,dev]"
	$(PIP) install -q --no-deps -r requirements-embedded.txt
	touch $(STAMP)

demo: install
	$(VENV)/bin/promptyard quickstart

# The web UI's tests drive Debian's Chromium (tests/server/ui). CI runs as root on a fresh machine, so it
# installs the browser here; where that fails the browser tests say why (and fail under CI=true).
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { echo "installing chromium for the browser tests (apt-get)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; } || \
	  echo "could not install chromium: the browser tests will say why they cannot run"; }

test: install browser
	$(PY) -m pytest -q -rfE --durations=40

test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(VENV)/bin/ruff check src tests bench

clean:
	rm -rf $(VENV) .pytest_cache build dist src/*.egg-info
