# Two commands for a newcomer: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install demo test test-fast lint bench docs prometheus clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[all,dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

# A real Prometheus (Debian's package, installed when missing): the demo's Prometheus
# column and dashboard preview read from it, and the integration tests scrape with it.
prometheus:
	@if command -v prometheus >/dev/null 2>&1; then \
		true; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's prometheus package (for the demo's Prometheus column and preview, and the tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	else \
		echo "note: no 'prometheus' binary and not root, so the demo leaves out its Prometheus column" \
		     "and preview, and the tests that need it skip (fail under CI). Install it: sudo apt-get install prometheus"; \
	fi
	@if ! command -v tmux >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's tmux package (the tests drive rayobs top's live view in it)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends tmux >/dev/null; \
	fi

demo: install prometheus
	$(BIN)/rayobs demo --preview out/demo-dashboard.png

test: install prometheus
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not ray and not prometheus"

lint: install
	$(BIN)/ruff check rayobs tests benchmarks
	$(BIN)/ruff format --check rayobs tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python -m benchmarks

# The documentation site at http://127.0.0.1:8000, rebuilt on every change.
docs: install
	$(BIN)/mkdocs serve -a 127.0.0.1:8000

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
