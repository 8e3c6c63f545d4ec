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

.PHONY: install demo test test-fast lint bench clean docs

install: $(STAMP)

$(STAMP): pyproject.toml requirements-embedded.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH)" -e ".[ml,ray,server,dev]"
	$(PIP) install -q --no-deps -r requirements-embedded.txt
	touch $(STAMP)

demo: install
	$(VENV)/bin/promptyard quickstart

test: install
	$(PY) -m pytest -q -rfE --durations=40

test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(VENV)/bin/ruff check src tests bench

clean:
	rm -rf $(VENV) .pytest_cache build dist src/*.egg-info
