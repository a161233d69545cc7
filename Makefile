# Two commands for a fresh machine:
#   make run   -> set everything up, build the index if needed, serve the chat on http://127.0.0.1:7860
#   make test  -> set everything up (Chromium included) and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch is pinned and installed first: this version is a local CPU build here;
# an unpinned torch would pull several GB of CUDA packages.
TORCH ?= torch==2.13.0
HOST ?= 127.0.0.1
PORT ?= 7860

.PHONY: setup setup-test dictionary run test index eval bench lint clean

$(VENV)/.installed: pyproject.toml
	@echo "==> [1/4] creating the Python environment in $(VENV)/"
	$(PYTHON) -m venv $(VENV)
	@echo "==> [2/4] updating pip"
	$(PIP) install --upgrade pip
	@echo "==> [3/4] installing $(TORCH) (the CPU build; pinned so pip does not pull CUDA)"
	$(PIP) install "$(TORCH)"
	@echo "==> [4/4] installing the project and its dependencies (pyproject.toml)"
	$(PIP) install -e ".[test,milvus]"
	touch $@
	@echo "==> environment ready"

setup: $(VENV)/.installed

# Debian's English-Arabic dictionary (FreeDict) feeds English questions' keyword search; optional for
# `make run` (without it English questions are searched without it), installed for `make test`.
DICTIONARY := /usr/share/dictd/freedict-eng-ara.index
dictionary:
	@test -f $(DICTIONARY) || \
		{ echo "==> installing Debian's English-Arabic dictionary (dict-freedict-eng-ara)"; \
		  if [ "$$(id -u)" = 0 ]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y dict-freedict-eng-ara; \
		  else sudo -n apt-get update && sudo -n DEBIAN_FRONTEND=noninteractive apt-get install -y dict-freedict-eng-ara; fi; } || \
		echo "==> note: could not install dict-freedict-eng-ara; English questions are searched without it"

# Debian's Chromium drives the browser test (a test tool's own browser download fails here).
setup-test: setup dictionary
	@test -f $(DICTIONARY) || { echo "dict-freedict-eng-ara is missing: apt-get install -y dict-freedict-eng-ara"; exit 1; }
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || \
		{ if [ "$$(id -u)" = 0 ]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
		  else sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; fi; }

run: setup dictionary
	@echo "==> starting the chat on http://$(HOST):$(PORT) (Ctrl-C stops it)"
	@echo "    the page is served at once; on the first run it shows the bundled model being prepared"
	@echo "    (once, into ~/.cache/rag-news) and the index being built from seeds/ (once, into index/)"
	HF_HUB_OFFLINE=1 $(PY) app.py --host $(HOST) --port $(PORT)

test: setup-test lint
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

index: setup
	HF_HUB_OFFLINE=1 $(VENV)/bin/rag index

eval: setup
	HF_HUB_OFFLINE=1 $(VENV)/bin/rag eval --gold seeds/gold_qa.jsonl --out reports/eval

bench: setup
	HF_HUB_OFFLINE=1 $(VENV)/bin/rag bench

# Style and types: ruff on everything, mypy on the package (config in pyproject.toml).
lint: setup
	$(VENV)/bin/ruff check rag tests app.py
	$(VENV)/bin/mypy rag

clean:
	rm -rf $(VENV) index/CURRENT index/build-* reports
