# chainmine — the two set-up commands are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test browser-deps bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,spark]"
	touch $(VENV)/.installed $@

## Install chainmine into .venv and run the end-to-end demo.
demo: $(VENV)/.installed
	$(BIN)/chainmine demo

## Install dev dependencies (and Debian's chromium for the browser test) and run every test.
test: $(VENV)/.dev-installed browser-deps
	$(BIN)/python -m pytest

# The browser test drives Debian's chromium; Playwright cannot download browsers here.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); \
	  else echo "note: chromium is not installed; the browser test will be skipped (sudo apt-get install chromium)"; fi; }

$(VENV)/.bench-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,spark,bench]"
	touch $(VENV)/.installed $(VENV)/.dev-installed $@

## Benchmarks (figures, not tests): 100k, 1M and 10M calls; SIZES=100k,1M to choose.
SIZES ?= 100k,1M,10M
bench: $(VENV)/.bench-installed
	$(BIN)/python -m bench.run --sizes $(SIZES)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
