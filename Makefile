# Set-up and everyday commands. Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DB     ?= data/coop.duckdb
PORT   ?= 8501

.PHONY: install run test bench demo clean lock

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -m venv $(VENV) || { echo "Не удалось создать .venv: установите пакет python3-venv (sudo apt install python3-venv)"; exit 1; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: install
	@test -f $(DB) || $(BIN)/coop --db $(DB) init --demo

run: demo
	COOP_DB=$(DB) $(BIN)/streamlit run server.py --server.address 127.0.0.1 --server.port $(PORT) \
	  --server.headless true --browser.gatherUsageStats false \
	  $(if $(DEV),--server.fileWatcherType auto --server.runOnSave true)

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m tests.benchmarks

# Refresh constraints.txt on purpose: the newest versions pyproject.toml allows, then run make test.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	{ echo "# Exact versions the test suite passed with; make install and CI use them. Refresh on purpose: make lock"; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | grep -v "^coop-ledger"; } > constraints.txt
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) .pytest_cache
